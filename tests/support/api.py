"""A thin REST client for tests: registers users and speaks the API as a client app would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx


@dataclass
class ApiUser:
    id: str
    email: str
    name: str
    token: str
    http: httpx.Client = field(repr=False)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def on_own_connection(self) -> ApiUser:
        """The same user on a client of its own (one per thread in concurrency tests); close it after."""
        return replace(self, http=httpx.Client(base_url=self.http.base_url, timeout=self.http.timeout))

    # Shortcuts that assert success, for arranging a test's scene.
    def create_workspace(self, name: str = "Board", **extra: Any) -> dict[str, Any]:
        response = self.post("/workspaces", json={"name": name, **extra})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def add_member(self, workspace_id: str, user: ApiUser, role: str = "member") -> dict[str, Any]:
        response = self.post(f"/workspaces/{workspace_id}/members", json={"email": user.email, "role": role})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_task(self, workspace_id: str, title: str = "Task", **extra: Any) -> dict[str, Any]:
        response = self.post(f"/workspaces/{workspace_id}/tasks", json={"title": title, **extra})
        assert response.status_code == 201, response.text
        return dict(response.json())


class Api:
    """Entry point bound to one running server."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def register(self, name: str = "User", password: str = "correct horse battery") -> ApiUser:
        email = f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:10]}@example.test"
        response = self.http.post("/auth/register", json={"email": email, "password": password, "name": name})
        assert response.status_code == 201, response.text
        body = response.json()
        return ApiUser(body["user"]["id"], email, name, body["accessToken"], self.http)

    def close(self) -> None:
        self.http.close()
