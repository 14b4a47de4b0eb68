// Shared helpers of the Node tests: REST calls with fetch, a WebSocket class that records what the
// client does, and waiting for a condition. The servers are started by tests/client_js (pytest), which
// passes their addresses in the environment.
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

export const PASSWORD = "correct horse battery";

/** The base URL given by the pytest side (e.g. http://127.0.0.1:40000), or a clear failure. */
export function serverUrl(name = "TASKROOM_URL") {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set: these tests are run by tests/client_js/test_js_client.py`);
  return url;
}

export class Rest {
  constructor(baseUrl) {
    this.api = `${baseUrl}/api/v1`;
  }

  async call(method, path, { token, body, timeoutMs = 10000 } = {}) {
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${this.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async ok(method, path, options) {
    const { status, body } = await this.call(method, path, options);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  async register(name = "User") {
    const email = `${name.toLowerCase()}.${randomUUID().slice(0, 10)}@example.test`;
    const body = await this.ok("POST", "/auth/register", { body: { email, password: PASSWORD, name } });
    return { id: body.user.id, email, name, token: body.accessToken };
  }

  async login(email) {
    const body = await this.ok("POST", "/auth/login", { body: { email, password: PASSWORD } });
    return body.accessToken;
  }

  createWorkspace(token, name = "Board") {
    return this.ok("POST", "/workspaces", { token, body: { name } });
  }

  createTask(token, workspaceId, title) {
    return this.ok("POST", `/workspaces/${workspaceId}/tasks`, { token, body: { title } });
  }

  addMember(token, workspaceId, email, role = "member") {
    return this.ok("POST", `/workspaces/${workspaceId}/members`, { token, body: { email, role } });
  }

  /** Every event of the workspace's log after `since`, page by page (what a client must end up with). */
  async events(token, workspaceId, since = 0) {
    const events = [];
    for (;;) {
      const page = await this.ok("GET", `/workspaces/${workspaceId}/events?since=${since}&limit=200`, { token });
      events.push(...page.events);
      if (!page.hasMore || page.events.length === 0) return { events, latestSeq: page.latestSeq };
      since = page.events[page.events.length - 1].seq;
    }
  }
}

/**
 * A `ws` WebSocket class that records, on a shared log, when each connection attempt starts and ends
 * and every frame the client sends: what the tests assert about reconnects and the wire.
 */
export function recordingWebSocket() {
  const log = { attempts: [], sent: [] };
  class RecordingWebSocket extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      const attempt = { startedAt: performance.now(), closedAt: null, code: null };
      log.attempts.push(attempt);
      this.on("close", (code) => {
        attempt.closedAt = performance.now();
        attempt.code = code;
      });
    }

    send(data, ...rest) {
      log.sent.push(JSON.parse(data));
      return super.send(data, ...rest);
    }
  }
  return { WebSocket: RecordingWebSocket, log };
}

/** Waits until `condition()` is true, checking every 20 ms; fails with `what` after `timeoutMs`. */
export async function until(condition, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records every logged event a client delivers, through one handler per event type of §3.2 and §7. */
export function recordLoggedEvents(client) {
  const received = [];
  const methods = [
    "onTaskCreated",
    "onTaskUpdated",
    "onTaskDeleted",
    "onTaskCompleted",
    "onTaskMoved",
    "onTaskRestored",
    "onCommentAdded",
    "onCommentUpdated",
    "onCommentDeleted",
    "onWorkspaceUpdated",
    "onWorkspaceDeleted",
    "onWorkspaceMemberAdded",
    "onWorkspaceMemberRemoved",
  ];
  for (const method of methods) client[method]((_data, envelope) => received.push(envelope));
  return received;
}

/**
 * A scripted WebSocket server on a free local port: `onConnection(socket, request)` decides what each
 * connection gets (answers, events, closes). Returns `{ url, connections, close() }`.
 */
export async function scriptedServer(onConnection, options = {}) {
  const { WebSocketServer } = await import("ws");
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, ...options });
  const connections = [];
  server.on("connection", (socket, request) => {
    connections.push(socket);
    socket.on("error", () => {});
    onConnection(socket, request);
  });
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  return {
    url: `ws://127.0.0.1:${port}/api/v1/ws`,
    connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of server.clients) socket.terminate();
        server.close(resolve);
      }),
  };
}

/** Frames as a Taskroom node would send them (what the scripted servers speak). */
export function frame(type, data, extra = {}) {
  return JSON.stringify({ type, data, timestamp: new Date().toISOString(), ...extra });
}

/** A scripted connection that sends CONNECT and answers the first AUTHENTICATE, then calls `next`. */
export function authenticating(next, { userId = "u1", workspaces = [] } = {}) {
  return (socket, request) => {
    socket.send(frame("CONNECT", { connectionId: "c", nodeId: "scripted", heartbeatInterval: 5000, authTimeout: 10000 }));
    socket.once("message", (raw) => {
      const auth = JSON.parse(String(raw));
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      socket.send(
        frame("AUTHENTICATE", { success: true, userId, expiresAt, workspaces, denied: [] }, { replyTo: auth.id }),
      );
      next(socket, auth, request);
    });
  };
}
