"""The log filter redacts a token parameter by the name it decodes to, and any JWT in a line."""

from __future__ import annotations

import logging

import pytest

from taskroom.logging_redaction import REDACTED, TokenRedaction

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"


def logged(message: str, *args: object) -> str:
    """The line a handler gets once the filter has seen the record."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, args or None, None)
    assert TokenRedaction().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    "name", ["token", "TOKEN", "Token", "%74oken", "to%6Ben", "%74%6F%6B%65%6E", "%2574oken", "access_token"]
)
def test_every_spelling_of_a_token_parameter_is_redacted(name: str) -> None:
    line = f'127.0.0.1:5000 - "GET /api/v1/tasks/t/doc?a=1&{name}=secret-value&b=2 HTTP/1.1" 401'
    assert (
        logged(line) == f'127.0.0.1:5000 - "GET /api/v1/tasks/t/doc?a=1&{name}={REDACTED}&b=2 HTTP/1.1" 401'
    )


def test_other_parameters_are_kept() -> None:
    line = '"GET /api/v1/workspaces/w/events?since=4&limit=100 HTTP/1.1" 200'
    assert logged(line) == line


def test_a_jwt_under_any_name_or_in_the_path_is_redacted() -> None:
    assert JWT not in logged(f'"WebSocket /api/v1/tasks/t/doc?x={JWT}" 403')
    assert JWT not in logged(f'"GET /api/v1/{JWT}/doc HTTP/1.1" 404')


def test_a_record_with_arguments_is_redacted_once_formatted() -> None:
    line = logged('%s - "%s %s" %d', "c", "GET", "/d?%74oken=abc", 200)
    assert line == f'c - "GET /d?%74oken={REDACTED}" 200'


INVITATION_TOKEN = "tri_Q2hlY2tpbmcgdGhhdCB0aGlzIGlzIHJlZGFjdGVk-_x"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/invitations/{INVITATION_TOKEN}/accept",
        "/api/v1/invitations/not-shaped-like-a-token/accept",
        "/api/v1/invitations/typed%20by%20hand",
    ],
)
def test_the_token_in_an_invitation_path_is_redacted(path: str) -> None:
    line = f'127.0.0.1:5000 - "POST {path} HTTP/1.1" 200'
    secret = path.split("/")[4]
    assert secret not in logged(line)
    assert "/api/v1/invitations/[redacted]" in logged(line)


def test_an_invitation_token_anywhere_in_a_line_is_redacted() -> None:
    assert INVITATION_TOKEN not in logged(f"copied the link #/invite/{INVITATION_TOKEN} by hand")


def test_a_workspace_invitation_id_is_kept() -> None:
    line = '127.0.0.1:5000 - "DELETE /api/v1/workspaces/w-1/invitations/0b5c9e1e HTTP/1.1" 204'
    assert logged(line) == line


def test_an_api_key_or_refresh_token_anywhere_in_a_line_is_redacted() -> None:
    line = logged(
        'socket closed path=/api/v1/ws user=- code=4401 reason="%s %s" by=client', "trk_abc-123_X", "trr_Q1w2"
    )
    assert "trk_abc" not in line and "trr_Q1" not in line
    assert line.count(REDACTED) == 2
