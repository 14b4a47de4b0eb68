// REST calls of PROTOCOL.md §2. Every write carries an Idempotency-Key, and a write whose answer was
// lost to the network is sent again with the same key, so it takes effect once.

// Relative to the page, so the board also works under a proxy's path prefix.
const BASE = new URL("api/v1", document.baseURI).pathname;
const WRITE_ATTEMPTS = 3;
// Tasks asked for per request: the server's largest page, so a big board needs few requests.
const TASK_PAGE = 500;

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || "HTTP_ERROR";
    this.current = error.current || null;
    this.fields = error.fields || [];
  }
}

export class NetworkError extends Error {}

// crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  // getToken: () => the access token to use now (a promise), or null when signed out.
  // onUnauthorized(token): a 401 answered a call made with `token`; resolves true when a fresh token is in
  // hand (the call is then made once more), false when the session is over.
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  // The same Idempotency-Key on the second try: a write that did take effect is not made twice.
  async request(method, path, body, key = method !== "GET" ? newIdempotencyKey() : null, again = true) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let token = null;
    try {
      token = await this.getToken();
    } catch {
      token = null; // signed out meanwhile: the server answers 401
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    const write = method !== "GET";
    if (key) headers["Idempotency-Key"] = key;
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    let response;
    for (let attempt = 1; ; attempt++) {
      try {
        response = await fetch(BASE + path, init);
        break;
      } catch (error) {
        if (!write || attempt >= WRITE_ATTEMPTS) throw new NetworkError("The server cannot be reached.");
        await pause(400 * attempt);
      }
    }
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401 && token) {
        if (again && (await this.onUnauthorized(token))) return this.request(method, path, body, key, false);
      }
      throw new ApiError(response.status, payload);
    }
    return payload;
  }

  me() {
    return this.request("GET", "/auth/me");
  }

  listWorkspaces() {
    return this.request("GET", "/workspaces");
  }
  getWorkspace(id) {
    return this.request("GET", `/workspaces/${encodeURIComponent(id)}`);
  }
  createWorkspace(name) {
    return this.request("POST", "/workspaces", { name });
  }
  listMembers(workspaceId) {
    return this.request("GET", `/workspaces/${encodeURIComponent(workspaceId)}/members`);
  }
  invite(workspaceId, email, role) {
    return this.request("POST", `/workspaces/${encodeURIComponent(workspaceId)}/members`, { email, role });
  }
  // Invitations (PROTOCOL §5.4): a link for anyone, with or without an account.
  createInvitation(workspaceId, email, role) {
    return this.request("POST", `/workspaces/${encodeURIComponent(workspaceId)}/invitations`, { email, role });
  }
  listInvitations(workspaceId) {
    return this.request("GET", `/workspaces/${encodeURIComponent(workspaceId)}/invitations`);
  }
  revokeInvitation(workspaceId, invitationId) {
    const path = `/workspaces/${encodeURIComponent(workspaceId)}/invitations/${encodeURIComponent(invitationId)}`;
    return this.request("DELETE", path);
  }
  acceptInvitation(token) {
    return this.request("POST", `/invitations/${encodeURIComponent(token)}/accept`);
  }

  // One page of the board order: {items, nextCursor}; nextCursor is null on the last page.
  listTaskPage(workspaceId, cursor) {
    const query = new URLSearchParams({ limit: String(TASK_PAGE) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `/workspaces/${encodeURIComponent(workspaceId)}/tasks?${query}`);
  }
  // Every task, page after page. Tasks changed meanwhile may be missing or stale here; the live
  // events that changed them reach the store too (see Store.loadTasks).
  async listTasks(workspaceId) {
    const items = [];
    let cursor = null;
    do {
      const page = await this.listTaskPage(workspaceId, cursor);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return { items };
  }
  createTask(workspaceId, title, status) {
    return this.request("POST", `/workspaces/${encodeURIComponent(workspaceId)}/tasks`, { title, status });
  }
  updateTask(taskId, changes, baseVersion) {
    return this.request("PATCH", `/tasks/${encodeURIComponent(taskId)}`, { ...changes, baseVersion });
  }
  completeTask(taskId, completed) {
    return this.request("POST", `/tasks/${encodeURIComponent(taskId)}/complete`, { completed });
  }
  moveTask(taskId, status, beforeId, afterId) {
    const body = { status };
    if (beforeId) body.beforeId = beforeId;
    if (afterId) body.afterId = afterId;
    return this.request("POST", `/tasks/${encodeURIComponent(taskId)}/move`, body);
  }
  deleteTask(taskId) {
    return this.request("DELETE", `/tasks/${encodeURIComponent(taskId)}`);
  }
}
