// Taskroom real-time client (PROTOCOL.md §3 and §4): one ES module, no build step, no dependencies.
// The node serves this file at /client/taskroom.js; it is also the npm package `taskroom-client`.
//
//   import TodoWebSocketClient from "https://taskroom.example.com/client/taskroom.js";  // or "taskroom-client"
//   const client = new TodoWebSocketClient({ url: "wss://taskroom.example.com/api/v1/ws", token, workspaceIds });
//   client.onTaskCreated(({ task }) => render(task));
//   await client.connect();
//
// Guarantees (docs/clients.md has the long form):
// - Logged events (those with a `seq`) reach the handlers once each and, per workspace, in `seq` order,
//   across reconnects: every reconnect AUTHENTICATEs with `resume` = the last seq seen per workspace, and
//   anything at or below that seq is dropped as a duplicate.
// - The client reconnects by itself after anything but `disconnect()`, waiting an exponential back-off with
//   full jitter that never goes under its floor, whatever close code or HTTP answer the server gave.
// - A token provider is called on every connect, shortly before the token in force expires (the fresh token
//   is sent on the open socket), and after a 4401 close.
// - A token the server refused is never sent again. The client stops with the state `unauthorized` (and the
//   close code) when the provider hands back a refused token, throws a TokenUnavailableError, or when three
//   connects in a row were refused; a string token stops it at its first refusal (PROTOCOL.md §4).

// The offline-first store (PROTOCOL.md §6) lives in its own file, served beside this one.
export { TaskroomStore, MemoryStorage, IndexedDBStorage, TaskroomStoreError } from "./store.js";

export const STATES = Object.freeze(["connecting", "open", "reconnecting", "closed", "unauthorized"]);

// Connects refused in a row (4401 before the connection authenticated) after which the client stops.
export const MAX_REFUSED_CONNECTS = 3;

export const PRESENCE_STATUSES = Object.freeze(["online", "away", "busy"]);

// Event type → handler method name. Logged events of §3.2 and §7 (plus the server's WORKSPACE_MEMBER_UPDATED),
// the collaboration frames of §3.3, and the frames a client may want to watch.
export const EVENT_HANDLERS = Object.freeze({
  TASK_CREATED: "onTaskCreated",
  TASK_UPDATED: "onTaskUpdated",
  TASK_DELETED: "onTaskDeleted",
  TASK_COMPLETED: "onTaskCompleted",
  TASK_MOVED: "onTaskMoved",
  TASK_RESTORED: "onTaskRestored",
  COMMENT_ADDED: "onCommentAdded",
  COMMENT_UPDATED: "onCommentUpdated",
  COMMENT_DELETED: "onCommentDeleted",
  NOTIFICATION: "onNotification",
  WORKSPACE_CREATED: "onWorkspaceCreated",
  WORKSPACE_UPDATED: "onWorkspaceUpdated",
  WORKSPACE_DELETED: "onWorkspaceDeleted",
  WORKSPACE_MEMBER_ADDED: "onWorkspaceMemberAdded",
  WORKSPACE_MEMBER_UPDATED: "onWorkspaceMemberUpdated",
  WORKSPACE_MEMBER_REMOVED: "onWorkspaceMemberRemoved",
  USER_PRESENCE: "onUserPresence",
  USER_TYPING: "onUserTyping",
  CURSOR_POSITION: "onCursorPosition",
  PRESENCE_STATE: "onPresenceState",
  SYNC_RESPONSE: "onSyncResponse",
  ERROR: "onError",
});

export const DEFAULT_RECONNECT = Object.freeze({
  // No reconnect comes sooner than this after a close, so no answer of the server can cause a tight loop.
  floorMs: 500,
  // The jitter window doubles from this on each failed attempt …
  baseMs: 1000,
  // … up to this.
  capMs: 30000,
  // The attempt count goes back to zero only once a connection has stayed authenticated this long, so a
  // server that accepts and then drops at once (1008, 1013) still meets a growing back-off.
  healthyAfterMs: 10000,
  // An attempt that is not authenticated by then is given up (a black-holed network never closes by itself).
  openTimeoutMs: 15000,
});

const CURSOR_INTERVAL_MS = 50; // 20 a second, as the server thins them anyway (§3.3)
const CLOSE_NORMAL = 1000;
const CLOSE_UNAUTHORIZED = 4401;
// Sent when the client itself gives a connection up (dead link, no authentication in time).
const CLOSE_CLIENT_GAVE_UP = 4000;
// Node 20 has no global WebSocket: there the `ws` package (an optional peer dependency) stands in. The
// specifier is a variable so that bundlers for browsers, which have the global, do not try to resolve it.
const NODE_WEBSOCKET_PACKAGE = "ws";
let nodeWebSocket = null;

/**
 * The wait before reconnect attempt number `attempt` (0 for the first after a healthy connection):
 * `floor + random() * min(cap, base * 2^attempt)`, never more than `cap`. Full jitter spreads the clients of a
 * restarted node over the whole window instead of bringing them back in waves; the floor keeps the
 * smallest draw from being a tight loop.
 */
export function backoffDelay(attempt, policy = DEFAULT_RECONNECT, random = Math.random) {
  const { floorMs, baseMs, capMs } = { ...DEFAULT_RECONNECT, ...policy };
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 52); // 2^52 already exceeds any cap
  const window = Math.min(capMs, baseMs * 2 ** exponent);
  return Math.min(Math.max(capMs, floorMs), floorMs + random() * window);
}

/**
 * The WebSocket URL of the endpoint. A `ws:`/`wss:` URL is taken as it is. An `http:`/`https:` URL is the
 * server's base: the scheme becomes `ws:`/`wss:` and `/api/v1/ws` is appended (or `/ws` to a path that ends
 * in `/api/v1`). A relative URL is resolved against `base` (in a browser, the page's address).
 */
export function toWebSocketUrl(url, base = globalThis.location?.href) {
  let parsed;
  try {
    parsed = base === undefined ? new URL(String(url)) : new URL(String(url), base);
  } catch {
    throw new TypeError(`url: not a URL: ${url}`);
  }
  if (parsed.protocol === "ws:" || parsed.protocol === "wss:") return parsed.href;
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`url: expected a ws:, wss:, http: or https: URL, got ${parsed.protocol}`);
  }
  parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
  const path = parsed.pathname.replace(/\/+$/, "");
  if (path.endsWith("/api/v1/ws")) parsed.pathname = path;
  else if (path.endsWith("/api/v1")) parsed.pathname = `${path}/ws`;
  else parsed.pathname = `${path}/api/v1/ws`;
  return parsed.href;
}

/** What `connect()` rejects with, and what the state change to `closed` carries when the client gave up. */
export class TaskroomClientError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TaskroomClientError";
    this.code = code;
  }
}

/**
 * A token provider throws this when it has no token to give and cannot get one (never signed in, signed
 * out, its session ended): the client stops as `unauthorized` at once instead of retrying. Any other
 * error of a provider counts as one failed attempt.
 */
export class TokenUnavailableError extends TaskroomClientError {
  constructor(message = "no token is available") {
    super("TOKEN_UNAVAILABLE", message);
    this.name = "TokenUnavailableError";
  }
}

export class TodoWebSocketClient {
  #url;
  #token;
  #requestedWorkspaceIds;
  #WebSocket;
  #reconnect;
  #heartbeatMs;
  #pongTimeoutMs;

  #state = "closed";
  #everOpen = false;
  #stopped = true;
  #generation = 0; // bumped by connect() and disconnect(): an attempt of an earlier run stops itself
  #socket = null;
  #attempt = 0;
  #nextId = 1;
  #authId = null;
  #userId = null;
  #connectionId = null;
  #lastReceivedAt = 0;
  #lastPingAt = 0;
  #expiresAt = null;
  // The rule of PROTOCOL.md §4: the tokens the server refused since connect(), and the connects refused in a
  // row (a row ends only when a connection authenticates). The tokens are kept as they are: a page holds its
  // live tokens in memory anyway, and a digest would need the asynchronous, secure-context-only crypto.subtle.
  #refused = new Set();
  #refusedInRow = 0;
  #attemptToken = null; // the token the current attempt authenticates with
  #tokenInForce = null; // the token the open connection is authenticated with (null: none known)
  #attemptOpened = false; // the current attempt got as far as an authenticated connection
  #lastClose = {}; // { code, reason } of the last close, reported with `unauthorized`

  #handlers = new Map(); // type → Set of callbacks
  #stateHandlers = new Set();
  #pending = new Map(); // frame id → { resolve, reject }
  #lastSeq = new Map(); // workspaceId → last seq delivered
  #held = new Map(); // workspaceId → live events held while a sync of that workspace runs
  #fills = new Map(); // workspaceId → the running sync's promise
  #presence = new Map(); // workspaceId → last status set, sent again after every reconnect
  #connectWaiters = [];

  #reconnectTimer = null;
  #openTimer = null;
  #healthyTimer = null;
  #refreshTimer = null;
  #heartbeatTimer = null;
  #cursorTimer = null;
  #cursorPending = null;
  #lastCursorAt = -Infinity;

  /**
   * @param {object} options
   * @param {string} options.url ws(s) URL of /api/v1/ws, or the server's http(s) base (see toWebSocketUrl)
   * @param {string | (() => string | Promise<string>)} options.token an access token or a provider of fresh ones
   * @param {string[]} [options.workspaceIds] join only these (default: every workspace of the user)
   * @param {new (url: string) => any} [options.WebSocket] the WebSocket class; default globalThis.WebSocket, else the `ws` package
   * @param {Record<string, number>} [options.resume] last seq already known per workspace (e.g. from a REST load)
   * @param {object} [options.reconnect] back-off policy, see DEFAULT_RECONNECT
   * @param {number} [options.heartbeatMs] send PING after this much silence; 0 turns it off (default 25000)
   * @param {number} [options.pongTimeoutMs] give the link up when nothing arrives this long after a PING (default 10000)
   */
  constructor(options) {
    const { url, token, workspaceIds, WebSocket, resume, reconnect, heartbeatMs, pongTimeoutMs } = options ?? {};
    if (typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("token: a string or a function returning one (or a promise of one) is required");
    }
    if (workspaceIds !== undefined && !Array.isArray(workspaceIds)) {
      throw new TypeError("workspaceIds: an array of workspace ids");
    }
    const WebSocketClass = WebSocket ?? globalThis.WebSocket;
    if (WebSocketClass !== undefined && typeof WebSocketClass !== "function") {
      throw new TypeError("WebSocket: a WebSocket class (in Node: the `ws` package's)");
    }
    this.#url = toWebSocketUrl(url);
    this.#token = token;
    this.#requestedWorkspaceIds = workspaceIds ? [...workspaceIds] : null;
    this.#WebSocket = WebSocketClass ?? null; // null: the `ws` package, loaded on the first connect
    this.#reconnect = { ...DEFAULT_RECONNECT, ...reconnect };
    this.#heartbeatMs = heartbeatMs ?? 25000;
    this.#pongTimeoutMs = pongTimeoutMs ?? 10000;
    for (const [workspaceId, seq] of Object.entries(resume ?? {})) {
      if (!Number.isInteger(seq) || seq < 0) throw new TypeError(`resume.${workspaceId}: a seq (integer >= 0)`);
      this.#lastSeq.set(workspaceId, seq);
    }
  }

  /** `connecting`, `open`, `reconnecting`, `closed` or `unauthorized` (stopped: its tokens were refused). */
  get state() {
    return this.#state;
  }

  /** The URL connected to. */
  get url() {
    return this.#url;
  }

  /** The authenticated user's id (null before the first authentication). */
  get userId() {
    return this.#userId;
  }

  /** The server's id of the current connection (from CONNECT), or null. */
  get connectionId() {
    return this.#connectionId;
  }

  /** The last seq delivered for a workspace (undefined when none is known). */
  lastSeq(workspaceId) {
    return this.#lastSeq.get(workspaceId);
  }

  /** Resolves once authenticated; rejects if the client closes (disconnect(), or a token that cannot work) first. */
  connect() {
    if (this.#state === "open") return Promise.resolve();
    const waiting = new Promise((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#stopped) {
      this.#stopped = false;
      this.#generation += 1;
      this.#everOpen = false;
      this.#attempt = 0;
      this.#refused = new Set();
      this.#refusedInRow = 0;
      this.#lastClose = {};
      this.#setState("connecting");
      void this.#attemptConnection();
    }
    return waiting;
  }

  /** Closes with 1000 and stops reconnecting for good. Resolves when the socket is closed. */
  disconnect() {
    const socket = this.#socket;
    this.#stopped = true;
    this.#generation += 1;
    this.#clearTimers();
    this.#dropConnectionState(new TaskroomClientError("DISCONNECTED", "the client was disconnected"));
    this.#socket = null;
    this.#setState("closed", { code: CLOSE_NORMAL });
    this.#rejectConnectWaiters(new TaskroomClientError("DISCONNECTED", "disconnect() was called"));
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      // A peer that never answers the close handshake must not hold the caller.
      const timer = setTimeout(() => {
        forceClose(socket);
        done();
      }, 2000);
      socket.onopen = null;
      socket.onmessage = null;
      socket.onerror = () => {};
      socket.onclose = done;
      try {
        socket.close(CLOSE_NORMAL, "client disconnect");
      } catch {
        done();
      }
      if (socket.readyState === 3) done(); // already CLOSED
    });
  }

  /** Subscribes to frames of one type (e.g. "TASK_CREATED"); returns the unsubscribe function. */
  on(type, callback) {
    if (typeof callback !== "function") throw new TypeError("callback: a function is required");
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    // A wrapper, so that the same function subscribed twice is also called twice and unsubscribed once.
    const entry = (data, envelope) => callback(data, envelope);
    set.add(entry);
    return () => set.delete(entry);
  }

  /**
   * `callback(state, detail)` on every change of state, and on every retry scheduled (the same state again,
   * with the retry's `attempt`, `delayMs` and the `code` or `error` that ended the last attempt).
   * Returns the unsubscribe function.
   */
  onStateChange(callback) {
    if (typeof callback !== "function") throw new TypeError("callback: a function is required");
    const entry = (state, detail) => callback(state, detail);
    this.#stateHandlers.add(entry);
    return () => this.#stateHandlers.delete(entry);
  }

  /** Sets this user's status in a workspace; remembered and sent again after every reconnect. */
  updatePresence(workspaceId, status) {
    requireId("workspaceId", workspaceId);
    if (!PRESENCE_STATUSES.includes(status)) {
      throw new TypeError(`status: one of ${PRESENCE_STATUSES.join(", ")}`);
    }
    this.#presence.set(workspaceId, status);
    return this.#sendIfOpen("USER_PRESENCE", { workspaceId, status });
  }

  /** Tells the room this user is (or stopped) typing in a task. Not queued: false when not connected. */
  setTyping(workspaceId, taskId, isTyping) {
    requireId("workspaceId", workspaceId);
    requireId("taskId", taskId);
    return this.#sendIfOpen("USER_TYPING", { workspaceId, taskId, isTyping: Boolean(isTyping) });
  }

  /**
   * Shares a cursor position (a small JSON object). At most 20 are sent a second; within that window the
   * latest call wins and goes out when the window ends. Not queued across a disconnect.
   */
  sendCursor(workspaceId, taskId, position) {
    requireId("workspaceId", workspaceId);
    if (taskId !== null && taskId !== undefined) requireId("taskId", taskId);
    if (position === null || typeof position !== "object" || Array.isArray(position)) {
      throw new TypeError("position: a plain object is required");
    }
    const data = taskId === null || taskId === undefined ? { workspaceId, position } : { workspaceId, taskId, position };
    const wait = this.#lastCursorAt + CURSOR_INTERVAL_MS - now();
    if (wait <= 0 && this.#cursorTimer === null) {
      this.#lastCursorAt = now();
      return this.#sendIfOpen("CURSOR_POSITION", data);
    }
    this.#cursorPending = data;
    if (this.#cursorTimer === null) {
      this.#cursorTimer = setTimeout(() => {
        this.#cursorTimer = null;
        const latest = this.#cursorPending;
        this.#cursorPending = null;
        if (latest) {
          this.#lastCursorAt = now();
          this.#sendIfOpen("CURSOR_POSITION", latest);
        }
      }, Math.max(0, wait));
    }
    return this.#state === "open";
  }

  /**
   * Asks for the events after the last seq seen (or after `options.sinceSeq`, to have events delivered
   * again) with SYNC_REQUEST, page after page while `hasMore`. The events go through their handlers in
   * order (live events of that workspace are held meanwhile and follow them), each page also through
   * onSyncResponse. A `reset` answer (past the retention) goes to onSyncResponse with its snapshot, and the
   * client goes on from its `latestSeq`. Rejects when not connected or on an ERROR answer.
   */
  sync(workspaceId, options = {}) {
    requireId("workspaceId", workspaceId);
    const { sinceSeq, limit } = options;
    if (sinceSeq !== undefined && (!Number.isInteger(sinceSeq) || sinceSeq < 0)) {
      return Promise.reject(new TypeError("sinceSeq: an integer >= 0"));
    }
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      return Promise.reject(new TypeError("limit: an integer >= 1"));
    }
    if (this.#state !== "open") {
      return Promise.reject(new TaskroomClientError("NOT_CONNECTED", "sync() needs an open connection"));
    }
    if (sinceSeq !== undefined) {
      const running = this.#fills.get(workspaceId);
      // A rewind waits for a running sync, then starts from where it was asked to.
      return (running ?? Promise.resolve()).catch(() => {}).then(() => {
        this.#lastSeq.set(workspaceId, sinceSeq);
        return this.#fill(workspaceId, limit);
      });
    }
    return this.#fill(workspaceId, limit);
  }

  // ---- connection lifecycle -------------------------------------------------------------------------

  async #attemptConnection() {
    this.#reconnectTimer = null;
    const generation = this.#generation;
    let token;
    try {
      token = await this.#currentToken();
    } catch (error) {
      if (generation !== this.#generation) return;
      if (error instanceof TokenUnavailableError) {
        this.#stopUnauthorized(`the token provider has no token (${error.message})`, this.#lastClose);
        return;
      }
      this.#scheduleReconnect({ error });
      return;
    }
    if (generation !== this.#generation) return;
    if (this.#refused.has(token)) {
      this.#stopUnauthorized("the token provider handed back a token that was already refused", this.#lastClose);
      return;
    }
    this.#attemptToken = token;
    this.#attemptOpened = false;
    if (this.#WebSocket === null) {
      try {
        this.#WebSocket = await loadNodeWebSocket();
      } catch {
        if (generation !== this.#generation) return;
        this.#stop(new TaskroomClientError("NO_WEBSOCKET", "no global WebSocket here: install the `ws` package or pass options.WebSocket"));
        return;
      }
      if (generation !== this.#generation) return;
    }
    let socket;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch (error) {
      this.#scheduleReconnect({ error });
      return;
    }
    this.#socket = socket;
    this.#authId = null;
    this.#lastReceivedAt = now();
    this.#openTimer = setTimeout(() => {
      this.#openTimer = null;
      this.#giveUp(socket, "not authenticated in time");
    }, this.#reconnect.openTimeoutMs);
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      this.#authId = this.#send("AUTHENTICATE", this.#authenticateData(token));
    };
    socket.onmessage = (event) => {
      if (socket === this.#socket) this.#receive(event.data);
    };
    // Every failure also ends in a close event; the close carries the decision.
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (socket === this.#socket) this.#closed(event.code, event.reason);
    };
  }

  #authenticateData(token) {
    const data = { token };
    const known = [...this.#lastSeq.keys()];
    if (this.#requestedWorkspaceIds) {
      data.workspaceIds = [...new Set([...this.#requestedWorkspaceIds, ...known])];
    }
    if (known.length > 0) data.resume = Object.fromEntries(this.#lastSeq);
    return data;
  }

  #authenticated(envelope) {
    const { data } = envelope;
    clearTimeout(this.#openTimer);
    this.#openTimer = null;
    this.#userId = data.userId ?? this.#userId;
    for (const { id, seq } of data.workspaces ?? []) {
      if (!this.#lastSeq.has(id)) this.#lastSeq.set(id, seq);
    }
    this.#attemptOpened = true;
    this.#tokenInForce = this.#attemptToken;
    this.#refusedInRow = 0;
    this.#scheduleRefresh(envelope);
    this.#healthyTimer = setTimeout(() => {
      this.#healthyTimer = null;
      this.#attempt = 0;
    }, this.#reconnect.healthyAfterMs);
    this.#startHeartbeat();
    const resumed = this.#everOpen;
    this.#everOpen = true;
    this.#setState("open", { resumed, userId: this.#userId, denied: data.denied ?? [] });
    for (const [workspaceId, status] of this.#presence) {
      this.#sendIfOpen("USER_PRESENCE", { workspaceId, status });
    }
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  #closed(code, reason) {
    this.#socket = null;
    this.#clearConnectionTimers();
    this.#dropConnectionState(new TaskroomClientError("CONNECTION_CLOSED", `connection closed (${code})`));
    if (this.#stopped) return;
    this.#lastClose = { code, reason };
    if (code === CLOSE_UNAUTHORIZED) {
      if (this.#attemptOpened) {
        // The token in force expired or its session ended. null: a re-authentication was refused, and that
        // token is already noted (the connection's first token may still be good). Not a refused connect.
        if (this.#tokenInForce !== null) this.#noteRefused(this.#tokenInForce);
      } else if (this.#attemptToken !== null) {
        this.#noteRefused(this.#attemptToken);
        this.#refusedInRow += 1;
        if (this.#refusedInRow >= MAX_REFUSED_CONNECTS) {
          this.#stopUnauthorized(`${this.#refusedInRow} connects in a row were refused`, { code, reason });
          return;
        }
      }
      if (typeof this.#token === "string") {
        // The same string can never work again: stop rather than knock forever.
        this.#stopUnauthorized("the token was refused or expired; pass a token provider", { code, reason });
        return;
      }
    }
    this.#attemptToken = null;
    this.#tokenInForce = null;
    this.#scheduleReconnect({ code, reason });
  }

  // Remembers a refused token and tells a provider that keeps its tokens, so that it fetches a new one
  // instead of handing this one back (TaskroomSession.tokenProvider then refreshes its session).
  #noteRefused(token) {
    this.#refused.add(token);
    const hook = typeof this.#token === "function" ? this.#token.tokenRefused : undefined;
    if (typeof hook === "function") {
      safely(() => {
        const outcome = hook.call(this.#token, token);
        if (outcome && typeof outcome.catch === "function") outcome.catch(() => {});
      });
    }
  }

  // Stops for good with the state `unauthorized`: the server refuses the tokens there are.
  #stopUnauthorized(why, detail = {}) {
    const error = new TaskroomClientError("UNAUTHORIZED", why);
    this.#attemptToken = null;
    this.#tokenInForce = null;
    this.#stop(error, { code: detail.code, reason: detail.reason }, "unauthorized");
  }

  // Gives up for good: retrying could not help.
  #stop(error, detail = {}, state = "closed") {
    this.#stopped = true;
    this.#clearTimers();
    this.#setState(state, { ...detail, error });
    this.#rejectConnectWaiters(error);
  }

  #scheduleReconnect(detail) {
    if (this.#stopped || this.#reconnectTimer !== null) return;
    const delayMs = backoffDelay(this.#attempt, this.#reconnect);
    this.#attempt += 1;
    this.#setState(this.#everOpen ? "reconnecting" : "connecting", { ...detail, delayMs, attempt: this.#attempt }, true);
    this.#reconnectTimer = setTimeout(() => void this.#attemptConnection(), delayMs);
  }

  // The client abandons a socket it has no more use for (dead link, authentication too slow).
  #giveUp(socket, reason) {
    if (socket !== this.#socket) return;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = () => {};
    forceClose(socket, reason);
    this.#closed(CLOSE_CLIENT_GAVE_UP, reason);
  }

  #dropConnectionState(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    // Held live events come again through resume (the seq they follow was never passed).
    this.#held.clear();
    this.#authId = null;
    this.#connectionId = null;
    this.#expiresAt = null;
  }

  #clearConnectionTimers() {
    for (const name of ["openTimer", "healthyTimer", "refreshTimer", "heartbeatTimer"]) this.#clearTimer(name);
    clearTimeout(this.#cursorTimer);
    this.#cursorTimer = null;
    this.#cursorPending = null;
  }

  #clearTimers() {
    this.#clearConnectionTimers();
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  #clearTimer(name) {
    // Private fields cannot be reached by a computed name; the four connection timers are listed here.
    switch (name) {
      case "openTimer":
        clearTimeout(this.#openTimer);
        this.#openTimer = null;
        break;
      case "healthyTimer":
        clearTimeout(this.#healthyTimer);
        this.#healthyTimer = null;
        break;
      case "refreshTimer":
        clearTimeout(this.#refreshTimer);
        this.#refreshTimer = null;
        break;
      case "heartbeatTimer":
        clearInterval(this.#heartbeatTimer);
        this.#heartbeatTimer = null;
        break;
    }
  }

  #rejectConnectWaiters(error) {
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  // `always`: report a new retry even though the state stays the same (its attempt and delay are news).
  #setState(state, detail = {}, always = false) {
    if (state === this.#state && !always) return;
    const previous = this.#state;
    this.#state = state;
    for (const callback of [...this.#stateHandlers]) {
      safely(() => callback(state, { previous, ...detail }));
    }
  }

  // ---- tokens -----------------------------------------------------------------------------------------

  async #currentToken() {
    const token = typeof this.#token === "function" ? await this.#token() : this.#token;
    if (typeof token !== "string" || token === "") {
      throw new TaskroomClientError("BAD_TOKEN", "the token provider gave no token (a non-empty string)");
    }
    return token;
  }

  // Refresh on the open socket a little before expiry: with a 1 h token one minute before, with a short
  // one at 80 % of its life. Measured on the server's clock (the answer's timestamp) so a skewed local
  // clock does not matter.
  #scheduleRefresh(envelope) {
    this.#clearTimer("refreshTimer");
    const expiresAt = Date.parse(envelope.data?.expiresAt ?? "");
    if (Number.isNaN(expiresAt) || typeof this.#token !== "function") return;
    const serverNow = Date.parse(envelope.timestamp ?? "");
    const remaining = expiresAt - (Number.isNaN(serverNow) ? Date.now() : serverNow);
    this.#expiresAt = now() + remaining;
    this.#armRefresh(Math.max(remaining - 60000, remaining * 0.8));
  }

  #armRefresh(delayMs) {
    this.#clearTimer("refreshTimer");
    this.#refreshTimer = setTimeout(() => void this.#refresh(), Math.max(0, delayMs));
  }

  async #refresh() {
    this.#refreshTimer = null;
    const socket = this.#socket;
    try {
      const token = await this.#currentToken();
      if (socket !== this.#socket || this.#state !== "open") return;
      // Sending a refused token would only end a connection that still works until expiry.
      if (this.#refused.has(token)) return;
      let answer;
      try {
        answer = await this.#request("AUTHENTICATE", { token });
      } catch (error) {
        if (error.code === "UNAUTHORIZED" || error.code === "TOKEN_EXPIRED") {
          // The server closes 4401 after this; the token in force then is not known to be refused.
          if (socket === this.#socket) this.#tokenInForce = null;
          this.#noteRefused(token);
          return;
        }
        throw error;
      }
      if (socket !== this.#socket) return;
      this.#tokenInForce = token;
      this.#scheduleRefresh(answer);
    } catch {
      // Try again while time is left; past that the server closes with 4401 and the reconnect asks anew.
      if (socket !== this.#socket || this.#expiresAt === null) return;
      const left = this.#expiresAt - now();
      if (left > 1000) this.#armRefresh(left / 2);
    }
  }

  // ---- heartbeat --------------------------------------------------------------------------------------

  // Browsers hide protocol-level pings, so a dead link (a laptop waking up, a NAT that forgot us) is found
  // with application PINGs: one after `heartbeatMs` of silence; nothing at all for `pongTimeoutMs` more and
  // the connection is given up and resumed on a new one. A busy connection sends no PING.
  #startHeartbeat() {
    this.#clearTimer("heartbeatTimer");
    if (!this.#heartbeatMs) return;
    const tick = Math.max(100, Math.min(this.#heartbeatMs, this.#pongTimeoutMs) / 4);
    const socket = this.#socket;
    this.#heartbeatTimer = setInterval(() => {
      const silent = now() - this.#lastReceivedAt;
      if (silent >= this.#heartbeatMs + this.#pongTimeoutMs) {
        this.#giveUp(socket, "no answer to PING");
      } else if (silent >= this.#heartbeatMs && now() - this.#lastPingAt >= this.#heartbeatMs) {
        this.#lastPingAt = now();
        this.#sendIfOpen("PING", {});
      }
    }, tick);
  }

  // ---- frames -----------------------------------------------------------------------------------------

  #send(type, data) {
    const id = `c${this.#nextId++}`;
    this.#socket.send(JSON.stringify({ type, data, timestamp: new Date().toISOString(), id }));
    return id;
  }

  #sendIfOpen(type, data) {
    if (this.#state !== "open" || !this.#socket) return false;
    try {
      this.#send(type, data);
      return true;
    } catch {
      return false; // the socket is closing; its close event decides what follows
    }
  }

  #request(type, data) {
    if (this.#state !== "open" || !this.#socket) {
      return Promise.reject(new TaskroomClientError("NOT_CONNECTED", `${type} needs an open connection`));
    }
    return new Promise((resolve, reject) => {
      const id = this.#send(type, data);
      this.#pending.set(id, { resolve, reject });
    });
  }

  #receive(raw) {
    this.#lastReceivedAt = now();
    if (typeof raw !== "string") return; // the server sends text frames only
    let envelope;
    try {
      envelope = JSON.parse(raw);
    } catch {
      return;
    }
    if (envelope === null || typeof envelope !== "object" || typeof envelope.type !== "string") return;
    const { type, replyTo } = envelope;
    if (type === "CONNECT") {
      this.#connectionId = envelope.data?.connectionId ?? null;
      return;
    }
    if (type === "AUTHENTICATE" && replyTo !== undefined && replyTo === this.#authId) {
      this.#authId = null;
      this.#authenticated(envelope);
      return;
    }
    const waiter = replyTo === undefined ? undefined : this.#pending.get(replyTo);
    if (waiter) {
      this.#pending.delete(replyTo);
      if (type === "ERROR") {
        const { code, message } = envelope.data ?? {};
        waiter.reject(Object.assign(new TaskroomClientError(code ?? "ERROR", message ?? "error"), { envelope }));
        this.#emit("ERROR", envelope);
      } else {
        waiter.resolve(envelope);
      }
      return;
    }
    if (type === "SYNC_RESPONSE" && envelope.data?.reset) {
      this.#reset(envelope);
      return;
    }
    if (typeof envelope.seq === "number" && typeof envelope.data?.workspaceId === "string") {
      this.#logged(envelope);
      return;
    }
    this.#emit(type, envelope);
  }

  // A logged event: dropped at or below the last seq seen; held while a sync of its workspace runs; a seq
  // that skips ahead (never expected of the server) starts a sync to fill the gap rather than pass it over.
  #logged(envelope) {
    const { workspaceId } = envelope.data;
    const held = this.#held.get(workspaceId);
    if (held) {
      held.push(envelope);
      return;
    }
    const last = this.#lastSeq.get(workspaceId);
    if (last !== undefined && envelope.seq > last + 1) {
      this.#held.set(workspaceId, [envelope]);
      this.#fill(workspaceId).catch(() => {});
      return;
    }
    this.#deliver(envelope);
  }

  #deliver(envelope) {
    const { workspaceId } = envelope.data;
    const last = this.#lastSeq.get(workspaceId);
    if (last !== undefined && envelope.seq <= last) return false;
    this.#lastSeq.set(workspaceId, envelope.seq);
    this.#emit(envelope.type, envelope);
    const { type, data } = envelope;
    if (type === "WORKSPACE_DELETED" || (type === "WORKSPACE_MEMBER_REMOVED" && data.userId === this.#userId)) {
      // No more events will come from it; nor is it resumed or given presence on the next connection.
      this.#lastSeq.delete(workspaceId);
      this.#presence.delete(workspaceId);
    }
    return true;
  }

  #reset(envelope) {
    const { workspaceId, latestSeq } = envelope.data;
    if (typeof workspaceId === "string" && Number.isInteger(latestSeq)) this.#lastSeq.set(workspaceId, latestSeq);
    this.#emit("SYNC_RESPONSE", envelope);
  }

  #fill(workspaceId, limit) {
    const running = this.#fills.get(workspaceId);
    if (running) return running;
    if (!this.#held.has(workspaceId)) this.#held.set(workspaceId, []);
    const socket = this.#socket;
    const result = { workspaceId, events: [], latestSeq: this.#lastSeq.get(workspaceId) ?? 0, reset: false };
    const run = async () => {
      for (;;) {
        const sinceSeq = this.#lastSeq.get(workspaceId) ?? 0;
        const data = { workspaceId, sinceSeq };
        if (limit !== undefined) data.limit = limit;
        const answer = await this.#request("SYNC_REQUEST", data);
        const page = answer.data;
        result.latestSeq = page.latestSeq;
        if (page.reset) {
          result.reset = true;
          result.snapshot = page.snapshot;
          this.#reset(answer);
          return result;
        }
        for (const event of page.events ?? []) {
          if (this.#deliver(event)) result.events.push(event);
        }
        this.#emit("SYNC_RESPONSE", answer);
        if (!page.hasMore || (page.events ?? []).length === 0) return result;
      }
    };
    const promise = run().finally(() => {
      this.#fills.delete(workspaceId);
      const held = this.#held.get(workspaceId);
      this.#held.delete(workspaceId);
      if (held && socket === this.#socket) {
        held.sort((a, b) => a.seq - b.seq);
        for (const event of held) this.#deliver(event);
      }
    });
    this.#fills.set(workspaceId, promise);
    return promise;
  }

  #emit(type, envelope) {
    const set = this.#handlers.get(type);
    if (!set) return;
    for (const callback of [...set]) safely(() => callback(envelope.data, envelope));
  }
}

// ---- sessions -----------------------------------------------------------------------------------------

/** The header that asks the server to keep the refresh token in an HttpOnly cookie (docs/security.md). */
export const REFRESH_COOKIE_HEADER = "X-Taskroom-Refresh";
// JWT `exp` is whole seconds, so a token can end up to a second before `expiresIn` says.
const EXP_ROUNDING_MS = 1000;
// A renewal that failed for want of the network is tried again this soon (or halfway to expiry if sooner).
const REFRESH_RETRY_MS = 5000;
// … but never sooner than this: an unreachable server must not meet a loop.
const MIN_RETRY_MS = 1000;

/** The REST base (`…/api/v1`) of a server's http(s) base URL; relative URLs resolve against the page. */
export function toApiUrl(url, base = globalThis.location?.href) {
  let parsed;
  try {
    parsed = base === undefined ? new URL(String(url)) : new URL(String(url), base);
  } catch {
    throw new TypeError(`url: not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`url: expected an http: or https: URL, got ${parsed.protocol}`);
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  parsed.pathname = path.endsWith("/api/v1") ? path : `${path}/api/v1`;
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}

/**
 * The tokens of one sign-in (PROTOCOL.md §5.1) for an app: login, register, refresh and logout; the access
 * token is held in memory only, renewed a little before it expires, and handed to TodoWebSocketClient through
 * `tokenProvider`. When the server refuses the refresh (session ended, account gone) or the user signs out,
 * `onEnded` handlers are told, so the app can show its sign-in page.
 *
 * `refreshTokenIn`:
 * - `"cookie"` (the default for a page of the server's own origin): the server keeps the refresh token in an
 *   HttpOnly, SameSite=Strict cookie that no page script can read. Renewals of all the tabs of the origin go
 *   through one Web Lock (a refresh token is spent by its first use, and a second use ends the session), and
 *   a BroadcastChannel tells the other tabs of a sign-out, an ended session or a sign-in.
 * - `"memory"` (the default elsewhere: other origins, Node): the refresh token is held in this object.
 */
export class TaskroomSession {
  #api;
  #fetch;
  #cookie;
  #marginMs;
  #lock;
  #channel = null;
  #accessToken = null;
  #refreshToken = null;
  #user = null;
  #expiresAt = null; // on the monotonic clock (now())
  #lifetime = null;
  #refreshing = null; // the renewal in flight: every caller shares it
  #stale = null; // the access token the server refused, while its renewal has not succeeded
  #timer = null;
  #endedHandlers = new Set();
  #signedInHandlers = new Set();

  /**
   * @param {object} [options]
   * @param {string} [options.url] the server's http(s) base (default: the page's origin)
   * @param {"cookie" | "memory"} [options.refreshTokenIn] where the refresh token lives (see the class)
   * @param {string} [options.refreshToken] memory mode: a refresh token to start from (resume() spends it)
   * @param {number} [options.refreshMarginMs] renew this long before expiry, at most halfway (default 30000)
   * @param {typeof fetch} [options.fetch] the fetch function (default globalThis.fetch)
   * @param {((name: string, task: () => Promise<any>) => Promise<any>) | null} [options.lock] runs a renewal
   *   under a lock shared by the tabs (default: navigator.locks in cookie mode; null: this object only)
   * @param {string | null} [options.channel] BroadcastChannel name shared by the tabs (cookie mode; null: none)
   */
  constructor(options = {}) {
    const { url, refreshTokenIn, refreshToken, refreshMarginMs, fetch, lock, channel } = options;
    const origin = globalThis.location?.origin;
    this.#api = toApiUrl(url ?? origin ?? "");
    const sameOrigin = origin !== undefined && new URL(this.#api).origin === origin;
    const mode = refreshTokenIn ?? (sameOrigin && globalThis.document !== undefined ? "cookie" : "memory");
    if (mode !== "cookie" && mode !== "memory") throw new TypeError('refreshTokenIn: "cookie" or "memory"');
    this.#cookie = mode === "cookie";
    if (refreshToken !== undefined) {
      if (this.#cookie) throw new TypeError("refreshToken: only in the memory mode (the cookie holds it otherwise)");
      this.#refreshToken = String(refreshToken);
    }
    this.#marginMs = refreshMarginMs ?? 30000;
    const fetchFunction = fetch ?? globalThis.fetch;
    if (typeof fetchFunction !== "function") throw new TypeError("fetch: no fetch function here; pass options.fetch");
    this.#fetch = fetchFunction.bind(globalThis);
    const locks = globalThis.navigator?.locks;
    this.#lock =
      lock !== undefined ? lock : this.#cookie && locks ? (name, task) => locks.request(name, task) : null;
    const channelName = channel !== undefined ? channel : this.#cookie ? `taskroom.session ${this.#api}` : null;
    if (channelName && typeof globalThis.BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(channelName);
      this.#channel.onmessage = (event) => this.#heard(event.data);
    }
    // The provider TodoWebSocketClient asks; told of a refused token, it renews instead of handing it back.
    const provider = () => this.getToken();
    provider.tokenRefused = (token) => this.tokenRefused(token);
    this.tokenProvider = provider;
  }

  /** `"cookie"` or `"memory"`. */
  get refreshTokenIn() {
    return this.#cookie ? "cookie" : "memory";
  }

  /** The REST base URL (`…/api/v1`). */
  get apiUrl() {
    return this.#api;
  }

  /** The current access token, or null when signed out. */
  get accessToken() {
    return this.#accessToken;
  }

  /** The signed-in user (`{id, email, name, …}`), or null. */
  get user() {
    return this.#user;
  }

  get signedIn() {
    return this.#accessToken !== null;
  }

  /** Signs in; resolves with the user. Rejects with a TaskroomClientError (`status`, `code`) when refused. */
  async login({ email, password }) {
    return this.#start(await this.#post("/auth/login", { email, password }));
  }

  /** Creates an account and signs in; resolves with the user. */
  async register({ email, password, name }) {
    return this.#start(await this.#post("/auth/register", { email, password, name }));
  }

  /**
   * Picks up a session that already exists (the cookie of an earlier sign-in, another tab's, or the memory
   * mode's `refreshToken` option) by renewing it. Resolves with the user, or null when there is none.
   */
  async resume() {
    if (this.signedIn) return this.#user;
    if (!this.#cookie && this.#refreshToken === null) return null;
    try {
      await this.refresh();
    } catch (error) {
      if (error instanceof TokenUnavailableError) return null;
      throw error;
    }
    return this.#user;
  }

  /**
   * Renews the access token now (one renewal at a time, and across the tabs under the lock); resolves with
   * the new token. A refusal of the server ends the session (onEnded, reason "ended") and rejects with a
   * TokenUnavailableError; a network failure rejects and leaves the session as it was.
   */
  refresh() {
    this.#refreshing ??= this.#renew().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** The access token to use now, renewed first when it is about to expire. TokenUnavailableError when signed out. */
  async getToken() {
    if (this.#refreshing) await this.#refreshing.catch(() => {});
    if (this.#accessToken === null) throw new TokenUnavailableError("signed out");
    if (this.#due() || this.#accessToken === this.#stale) {
      try {
        await this.refresh();
      } catch (error) {
        // A renewal that failed for a reason of the moment (network, a server error): the token in hand is
        // still good if it has life left and was not refused; else the caller tries again later. Never is
        // a refused or expired token handed out, which would make a client stop as unauthorized.
        const usable = this.#accessToken !== this.#stale && this.#expiresAt !== null && now() < this.#expiresAt;
        if (error instanceof TokenUnavailableError || this.#accessToken === null || !usable) throw error;
      }
    }
    if (this.#accessToken === null) throw new TokenUnavailableError("signed out");
    return this.#accessToken;
  }

  /** The server refused `token` (4401, or a 401 on REST): renew, unless it is not the current one any more. */
  async tokenRefused(token) {
    if (this.#refreshing) await this.#refreshing.catch(() => {});
    if (token !== this.#accessToken || this.#accessToken === null) return;
    this.#stale = token;
    await this.refresh().catch(() => {});
  }

  /** Signs out: the server ends the session (and clears the cookie); every tab is told. Never rejects. */
  async logout() {
    const headers = { Accept: "application/json" };
    const body = {};
    if (this.#accessToken) headers.Authorization = `Bearer ${this.#accessToken}`;
    if (this.#cookie) headers[REFRESH_COOKIE_HEADER] = "cookie";
    else if (this.#refreshToken) body.refreshToken = this.#refreshToken;
    const hadSession = this.signedIn || this.#refreshToken !== null || this.#cookie;
    this.#end("signed-out");
    if (!hadSession) return;
    try {
      await this.#request("/auth/logout", body, headers);
    } catch {
      // Signed out here all the same; the server ends the session when its tokens expire.
    }
  }

  /** `callback({reason, error?})` when the session ends: reason `"signed-out"` or `"ended"` (refused by the server). */
  onEnded(callback) {
    if (typeof callback !== "function") throw new TypeError("callback: a function is required");
    const entry = (detail) => callback(detail);
    this.#endedHandlers.add(entry);
    return () => this.#endedHandlers.delete(entry);
  }

  /** `callback(user)` on every sign-in: login, register, resume, or (cookie mode) one in another tab. */
  onSignedIn(callback) {
    if (typeof callback !== "function") throw new TypeError("callback: a function is required");
    const entry = (user) => callback(user);
    this.#signedInHandlers.add(entry);
    return () => this.#signedInHandlers.delete(entry);
  }

  /** Stops the renewal timer and the channel; the session is forgotten here (not ended on the server). */
  close() {
    this.#forget();
    this.#channel?.close();
    this.#channel = null;
  }

  // ---- inside ---------------------------------------------------------------------------------------

  #due() {
    if (this.#expiresAt === null) return false;
    return this.#expiresAt - now() <= Math.min(this.#marginMs, this.#lifetime / 2);
  }

  async #renew() {
    const run = () => this.#exchange();
    return this.#lock ? this.#lock("taskroom.refresh", run) : run();
  }

  async #exchange() {
    const headers = { Accept: "application/json" };
    const body = {};
    if (this.#cookie) headers[REFRESH_COOKIE_HEADER] = "cookie";
    else if (this.#refreshToken !== null) body.refreshToken = this.#refreshToken;
    else {
      this.#end("ended");
      throw new TokenUnavailableError("no refresh token");
    }
    const wasSignedIn = this.signedIn;
    const sentAt = now();
    let answer;
    try {
      answer = await this.#request("/auth/refresh", this.#cookie ? undefined : body, headers);
    } catch (error) {
      if (error.status === 401) {
        if (wasSignedIn) this.#end("ended", error);
        else this.#forget();
        throw new TokenUnavailableError("the session ended: sign in again");
      }
      if (this.signedIn) {
        const left = this.#expiresAt === null ? Infinity : this.#expiresAt - now();
        this.#schedule(Math.max(MIN_RETRY_MS, Math.min(REFRESH_RETRY_MS, left / 2)));
      }
      throw error;
    }
    const before = this.#user?.id;
    if (wasSignedIn && before !== undefined && answer?.user?.id !== undefined && answer.user.id !== before) {
      // The cookie now belongs to another sign-in (another account, signed in in another tab): this
      // session is over; resume() picks up the other one.
      this.#end("ended", undefined, false);
      throw new TokenUnavailableError("another account signed in meanwhile");
    }
    this.#take(answer, sentAt);
    if (!wasSignedIn) this.#signedIn(false);
    return this.#accessToken;
  }

  #start(answer) {
    this.#take(answer.body, answer.sentAt);
    this.#signedIn(true);
    return this.#user;
  }

  #take(answer, sentAt) {
    if (typeof answer?.accessToken !== "string" || answer.accessToken === "") {
      throw new TaskroomClientError("BAD_ANSWER", "the server's answer carries no access token");
    }
    this.#accessToken = answer.accessToken;
    this.#stale = null;
    this.#user = answer.user ?? this.#user;
    // In the cookie mode a refresh token in the body (a server without the cookie mode) is not kept.
    if (!this.#cookie && typeof answer.refreshToken === "string") this.#refreshToken = answer.refreshToken;
    if (typeof answer.expiresIn === "number") {
      this.#lifetime = Math.max(0, answer.expiresIn * 1000 - EXP_ROUNDING_MS);
      this.#expiresAt = sentAt + this.#lifetime;
      this.#schedule(this.#expiresAt - Math.min(this.#marginMs, this.#lifetime / 2) - now());
    } else {
      this.#lifetime = this.#expiresAt = null;
    }
  }

  #schedule(delayMs) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.refresh().catch(() => {});
    }, Math.max(0, delayMs));
    // In Node, a pending renewal alone must not keep the process alive.
    this.#timer?.unref?.();
  }

  #signedIn(announce) {
    if (announce) this.#announce({ type: "signed-in" });
    for (const callback of [...this.#signedInHandlers]) safely(() => callback(this.#user));
  }

  #forget() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#accessToken = null;
    this.#stale = null;
    this.#refreshToken = null;
    this.#user = null;
    this.#expiresAt = this.#lifetime = null;
  }

  #end(reason, error, announce = true) {
    const wasSignedIn = this.signedIn;
    this.#forget();
    if (announce) this.#announce({ type: reason });
    if (!wasSignedIn) return;
    for (const callback of [...this.#endedHandlers]) safely(() => callback(error ? { reason, error } : { reason }));
  }

  #announce(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // a closed channel: no other tab to tell
    }
  }

  // Another tab of the origin: it signed out, its renewal was refused (the cookie's session is over for
  // every tab), or it signed in (a new cookie: this tab can pick it up).
  #heard(message) {
    const type = message?.type;
    if (type === "signed-out" || type === "ended") this.#end(type, undefined, false);
    else if (type === "signed-in" && !this.signedIn && this.#cookie) this.resume().catch(() => {});
  }

  // A sign-in sets the cookie: under the renewal lock, so that no renewal of another tab, answered after
  // it, puts back the cookie of the session before.
  async #post(path, body) {
    const headers = { Accept: "application/json" };
    if (this.#cookie) headers[REFRESH_COOKIE_HEADER] = "cookie";
    const run = async () => {
      const sentAt = now();
      return { body: await this.#request(path, body, headers), sentAt };
    };
    return this.#lock ? this.#lock("taskroom.refresh", run) : run();
  }

  async #request(path, body, headers) {
    const init = { method: "POST", headers: { ...headers }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await this.#fetch(`${this.#api}${path}`, init);
    } catch (cause) {
      throw Object.assign(new TaskroomClientError("NETWORK", "the server cannot be reached"), { cause, status: 0 });
    }
    const text = await response.text().catch(() => "");
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const { code, message } = payload?.error ?? {};
      throw Object.assign(new TaskroomClientError(code ?? "HTTP_ERROR", message ?? `request failed (${response.status})`), {
        status: response.status,
        body: payload,
      });
    }
    return payload;
  }
}

// One onX method per event type: client.onTaskCreated(cb) is client.on("TASK_CREATED", cb).
for (const [type, method] of Object.entries(EVENT_HANDLERS)) {
  Object.defineProperty(TodoWebSocketClient.prototype, method, {
    value: function (callback) {
      return this.on(type, callback);
    },
    writable: true,
    configurable: true,
  });
}

/** The `ws` package's WebSocket class, imported once (it is only looked for where no global WebSocket exists). */
function loadNodeWebSocket() {
  nodeWebSocket ??= import(NODE_WEBSOCKET_PACKAGE).then((module) => module.WebSocket ?? module.default);
  return nodeWebSocket;
}

function requireId(name, value) {
  if (typeof value !== "string" || value === "") throw new TypeError(`${name}: a non-empty string is required`);
}

function now() {
  return globalThis.performance?.now() ?? Date.now();
}

function forceClose(socket, reason) {
  try {
    if (typeof socket.terminate === "function") socket.terminate(); // Node's `ws`: no closing handshake
    else socket.close(CLOSE_CLIENT_GAVE_UP, reason);
  } catch {
    // already closed
  }
}

// A throwing handler must not stop the others nor the client; the error is reported as uncaught.
function safely(fn) {
  try {
    fn();
  } catch (error) {
    if (typeof globalThis.reportError === "function") globalThis.reportError(error);
    else queueMicrotask(() => {
      throw error;
    });
  }
}

export default TodoWebSocketClient;
