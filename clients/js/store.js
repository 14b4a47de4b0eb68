// Taskroom offline-first store (PROTOCOL.md §6): a live replica of a workspace that opens from its persisted
// copy at once, catches up from the server, takes edits while offline and sends them later, each once.
// Re-exported by taskroom.js; served at /client/store.js beside it.
//
//   import { TaskroomStore } from "https://taskroom.example.com/client/taskroom.js";
//   const store = new TaskroomStore({ url: "https://taskroom.example.com", token, persist: "indexeddb" });
//   const replica = await store.open(workspaceId);
//   store.column(workspaceId, "todo").subscribe((tasks) => render(tasks));
//   await store.createTask(workspaceId, { title: "Write the docs" });
//
// Guarantees (docs/clients.md, "The offline store", has the long form):
// - What the app sees is the server's state as last known, with every waiting mutation applied on top of it
//   again after each server event (a rebase), so a pending edit survives other people's changes.
// - Every mutation gets its own Idempotency-Key when it is made; the outbox that holds it is persisted
//   before the mutation is sent, and is sent in order, so a mutation has one effect on the server however
//   often it is sent (reloads, restarts, lost answers).
// - Server events are applied once each, by seq; a gap is filled from GET /events, a log that no longer
//   reaches back (410) or is too far behind is replaced by the snapshot.

import { TodoWebSocketClient, backoffDelay } from "./taskroom.js";

export const STORE_STATUSES = Object.freeze(["idle", "sending", "waiting", "unauthorized", "closed"]);

// The columns of a workspace that never set its own (PROTOCOL §7). A replica follows its workspace's
// `columns` (from the snapshot and WORKSPACE_UPDATED); these stand in only until it knows them.
export const DEFAULT_COLUMNS = Object.freeze([
  Object.freeze({ key: "todo", name: "To do", done: false }),
  Object.freeze({ key: "in_progress", name: "In progress", done: false }),
  Object.freeze({ key: "done", name: "Done", done: true }),
]);
/** The keys of DEFAULT_COLUMNS. */
export const COLUMNS = Object.freeze(DEFAULT_COLUMNS.map((column) => column.key));
const COLUMN_KEY = /^[a-z][a-z0-9_]{0,15}$/;

const TEMP_PREFIX = "local-";
const LOGGED_TYPES = Object.freeze([
  "TASK_CREATED",
  "TASK_UPDATED",
  "TASK_DELETED",
  "TASK_COMPLETED",
  "TASK_MOVED",
  "TASK_RESTORED",
  // Comments change no task: they only move the workspace's position in its log.
  "COMMENT_ADDED",
  "COMMENT_UPDATED",
  "COMMENT_DELETED",
  "WORKSPACE_UPDATED",
  "WORKSPACE_DELETED",
  "WORKSPACE_MEMBER_ADDED",
  "WORKSPACE_MEMBER_UPDATED",
  "WORKSPACE_MEMBER_REMOVED",
]);
const UPDATABLE = Object.freeze(["title", "description", "assigneeId", "dueDate", "priority", "labels"]);
const DEFAULT_SEND_RETRY = Object.freeze({ floorMs: 200, baseMs: 500, capMs: 30000 });

// ---- persistence ----------------------------------------------------------------------------------------

/**
 * The one interface the store persists through: records (JSON values) by string key.
 * `get` resolves to undefined for a missing key. Every method may return a value or a promise.
 */
export class MemoryStorage {
  #records = new Map();

  get(key) {
    const value = this.#records.get(key);
    return value === undefined ? undefined : structuredClone(value);
  }

  put(key, value) {
    this.#records.set(key, structuredClone(value));
  }

  delete(key) {
    this.#records.delete(key);
  }
}

/** The browser's IndexedDB: one database, one object store of records keyed by string. */
export class IndexedDBStorage {
  #name;
  #db = null;

  constructor(name = "taskroom") {
    if (typeof globalThis.indexedDB === "undefined") throw new TypeError("IndexedDB is not available here");
    this.#name = name;
  }

  #open() {
    this.#db ??= new Promise((resolve, reject) => {
      const request = globalThis.indexedDB.open(this.#name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("records");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.#db;
  }

  async #run(mode, action) {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction("records", mode);
      const request = action(transaction.objectStore("records"));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  }

  get(key) {
    return this.#run("readonly", (records) => records.get(key));
  }

  async put(key, value) {
    await this.#run("readwrite", (records) => records.put(value, key));
  }

  async delete(key) {
    await this.#run("readwrite", (records) => records.delete(key));
  }
}

// ---- errors ---------------------------------------------------------------------------------------------

/** A write the server refused (a 4xx other than 409), or a store that cannot go on (unauthorized). */
export class TaskroomStoreError extends Error {
  constructor(code, message, { status, body } = {}) {
    super(message);
    this.name = "TaskroomStoreError";
    this.code = code;
    this.status = status;
    this.body = body;
  }
}

class NetworkError extends Error {}

// ---- positions ------------------------------------------------------------------------------------------

/**
 * A key strictly between `low` and `high` (either may be null: no bound), compared code unit by code unit:
 * where an optimistic move puts a task until the server's answer brings the real one.
 */
export function positionBetween(low, high) {
  let a = low ?? "";
  let b = high ?? null;
  if (b !== null && !(a < b)) b = null; // neighbours out of order: just after `low`
  let out = "";
  for (let i = 0; i < 64; i += 1) {
    const lo = i < a.length ? a.charCodeAt(i) : 0x20; // `low` ended: anything from "!" is above it
    const hi = b !== null && i < b.length ? b.charCodeAt(i) : 0x7f;
    if (hi - lo >= 2) return out + String.fromCharCode((lo + hi) >> 1);
    if (hi === lo) {
      out += String.fromCharCode(lo);
      continue;
    }
    // Adjacent digits: keep `low`'s and go on below no upper bound, which is now met.
    out += String.fromCharCode(lo);
    b = null;
  }
  return `${a}~`;
}

// ---- the store ------------------------------------------------------------------------------------------

/** A value that changes, with subscribers told of each change: what store.task() and store.column() give. */
class View {
  #read;
  #subscribers;

  constructor(read, subscribers) {
    this.#read = read;
    this.#subscribers = subscribers;
  }

  get current() {
    return this.#read();
  }

  /** `callback(current)` after every change of this value; returns the unsubscribe function. */
  subscribe(callback) {
    if (typeof callback !== "function") throw new TypeError("callback: a function is required");
    const entry = { callback, last: this.#read(), read: this.#read };
    this.#subscribers.add(entry);
    return () => this.#subscribers.delete(entry);
  }
}

/** What store.open() gives: the live replica of one workspace (server state + pending mutations). */
class Replica {
  #store;

  constructor(store, workspaceId, synced) {
    this.#store = store;
    this.workspaceId = workspaceId;
    /** Resolves once the replica has caught up with the server the first time (rejects if it cannot). */
    this.synced = synced;
  }

  get workspace() {
    return this.#store.workspace(this.workspaceId);
  }

  get members() {
    return this.#store.members(this.workspaceId);
  }

  /** Every task, in board order (column, then position). */
  get tasks() {
    return this.#store.tasks(this.workspaceId);
  }

  get latestSeq() {
    return this.#store.latestSeq(this.workspaceId);
  }

  /** The workspace's columns in board order: `[{key, name, done}]`. */
  get columns() {
    return this.#store.columns(this.workspaceId);
  }

  column(status) {
    return this.#store.column(this.workspaceId, status);
  }

  task(id) {
    return this.#store.task(id);
  }

  subscribe(callback) {
    return this.#store.subscribe((change) => {
      if (change.workspaceId === this.workspaceId) callback(change);
    });
  }
}

export class TaskroomStore {
  #api;
  #wsUrl;
  #token;
  #storage;
  #fetch;
  #WebSocket;
  #client;
  #ownsClient;
  #prefix;
  #retry;
  #reconnectPolicy;
  #maxReplay;
  #pageLimit;
  #requestTimeoutMs;
  #random;
  #onConflict;
  #onRefused;

  #replicas = new Map(); // workspaceId → { base: {workspace, members: Map, tasks: Map, latestSeq}, view: Map, order }
  #outbox = []; // mutations, oldest first
  #ids = {}; // temporary id → server id, for created tasks
  #catchingUp = new Map(); // workspaceId → promise of the running catch-up
  #held = new Map(); // workspaceId → live events held while a catch-up or a create runs
  #holds = new Map(); // workspaceId → how many of those run
  #opening = new Map(); // workspaceId → promise of the open() under way
  #dirty = new Set(); // workspaces whose copy waits to be written
  #dirtyTimer = null;
  #writes = Promise.resolve(); // persistence, one write after the other
  #subscribers = new Set();
  #viewSubscribers = new Set();
  #pendingSubscribers = new Set();
  #statusSubscribers = new Set();
  #syncSubscribers = new Set();
  #loaded = null;
  #draining = null; // the running send loop's promise
  #retryTimer = null;
  #attempt = 0;
  #status = "idle";
  #closed = false;
  #refusedToken = null;
  #offClient = [];
  #onlineListener = null;

  /**
   * @param {object} options
   * @param {string} options.url the server's http(s) base (e.g. https://taskroom.example.com)
   * @param {string | (() => string | Promise<string>)} options.token an access token or a provider of fresh ones
   * @param {"indexeddb" | "memory"} [options.persist] default "indexeddb" where IndexedDB exists, else "memory"
   * @param {{get, put, delete}} [options.storage] a persistence adapter of one's own (overrides `persist`)
   * @param {string} [options.namespace] prefix of the persisted keys (e.g. the user's id), default "taskroom"
   * @param {TodoWebSocketClient} [options.client] a client to take live events from (default: the store's own)
   * @param {typeof fetch} [options.fetch] default globalThis.fetch
   * @param {Function} [options.WebSocket] passed to the store's own TodoWebSocketClient
   * @param {object} [options.reconnect] the WebSocket client's back-off policy
   * @param {object} [options.retry] the outbox's back-off policy (floorMs, baseMs, capMs)
   * @param {number} [options.maxReplay] more events behind than this: load the snapshot instead (default 5000)
   * @param {number} [options.pageLimit] events (and snapshot tasks) asked for per request (default 500)
   * @param {number} [options.requestTimeoutMs] a request unanswered this long is a network error (default 30000)
   * @param {(mine, current) => "mine" | "theirs" | Promise<"mine" | "theirs">} [options.onConflict]
   * @param {(mutation, error) => void} [options.onRefused]
   */
  constructor(options) {
    const { url, token, persist, storage, namespace, client, WebSocket, reconnect, retry, maxReplay } = options ?? {};
    if (typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("token: a string or a function returning one (or a promise of one) is required");
    }
    const base = httpBase(url);
    this.#api = `${base}/api/v1`;
    this.#wsUrl = base;
    this.#token = token;
    this.#storage = storage ?? makeStorage(persist);
    for (const method of ["get", "put", "delete"]) {
      if (typeof this.#storage[method] !== "function") throw new TypeError(`storage: a ${method}(key) method is required`);
    }
    this.#fetch = options?.fetch ?? globalThis.fetch?.bind(globalThis);
    if (typeof this.#fetch !== "function") throw new TypeError("fetch: no fetch function is available");
    this.#WebSocket = WebSocket;
    this.#client = client ?? null;
    this.#ownsClient = !client;
    this.#reconnectPolicy = reconnect;
    this.#prefix = namespace ?? "taskroom";
    this.#retry = { ...DEFAULT_SEND_RETRY, ...retry };
    this.#maxReplay = maxReplay ?? 5000;
    this.#pageLimit = options?.pageLimit ?? null;
    this.#requestTimeoutMs = options?.requestTimeoutMs ?? 30000;
    this.#random = options?.random ?? Math.random;
    this.#onConflict = options?.onConflict ?? null;
    this.#onRefused = options?.onRefused ?? null;
  }

  // ---- reading ----------------------------------------------------------------------------------------

  /** `idle` (nothing to send, or all sent), `sending`, `waiting` (server unreachable, retrying), `unauthorized`, `closed`. */
  get status() {
    return this.#status;
  }

  /** The mutations waiting to be sent, oldest first (copies). */
  get pending() {
    return this.#outbox.map(publicMutation);
  }

  get pendingCount() {
    return this.#outbox.length;
  }

  /** The TodoWebSocketClient the live events come from (null before the first open()). */
  get client() {
    return this.#client;
  }

  workspace(workspaceId) {
    return this.#replicas.get(workspaceId)?.base.workspace ?? null;
  }

  members(workspaceId) {
    return [...(this.#replicas.get(workspaceId)?.base.members.values() ?? [])];
  }

  latestSeq(workspaceId) {
    return this.#replicas.get(workspaceId)?.base.latestSeq ?? 0;
  }

  /** Every task, in board order: column by column as the workspace orders them, then by position. */
  tasks(workspaceId) {
    const order = this.#replicas.get(workspaceId)?.order;
    return order ? [...order.values()].flat() : [];
  }

  /**
   * The workspace's columns in board order, `[{key, name, done}]`: those of its snapshot or its last
   * WORKSPACE_UPDATED (the defaults while the replica does not know them).
   */
  columns(workspaceId) {
    return columnsOf(this.#replicas.get(workspaceId)?.base);
  }

  /**
   * A task as the app sees it, as a View (`current`: the task or undefined; `subscribe`). Its temporary id
   * works too, before and after the server confirmed it.
   */
  task(id) {
    return new View(() => this.#findTask(id), this.#viewSubscribers);
  }

  /** The tasks of one column in board order, as a View (`current`, `subscribe`). */
  column(workspaceId, status) {
    // An open replica knows its columns; before it opens, any well-formed key may be watched.
    if (this.#replicas.has(workspaceId)) this.#requireColumn(workspaceId, status);
    else if (typeof status !== "string" || !COLUMN_KEY.test(status)) throw new TypeError("status: a column key");
    return new View(() => this.#replicas.get(workspaceId)?.order.get(status) ?? EMPTY, this.#viewSubscribers);
  }

  #requireColumn(workspaceId, status) {
    const keys = this.columns(workspaceId).map((column) => column.key);
    if (!keys.includes(status)) throw new TypeError(`status: one of ${keys.join(", ")}`);
  }

  /** `callback({workspaceId, reason})` after every change of any replica; returns the unsubscribe function. */
  subscribe(callback) {
    return addSubscriber(this.#subscribers, callback);
  }

  /** `callback(pending)` whenever the outbox changes. */
  onPendingChange(callback) {
    return addSubscriber(this.#pendingSubscribers, callback);
  }

  /** `callback(status, detail)` whenever the sending status changes. */
  onStatusChange(callback) {
    return addSubscriber(this.#statusSubscribers, callback);
  }

  /** `callback({workspaceId, kind: "copy" | "events" | "snapshot", reason?, latestSeq})` after each load or catch-up. */
  onSync(callback) {
    return addSubscriber(this.#syncSubscribers, callback);
  }

  // ---- opening ----------------------------------------------------------------------------------------

  /**
   * Opens a workspace's replica: from the persisted copy at once when there is one (catching up in the
   * background, `replica.synced`), else once the snapshot is read. Live events follow.
   */
  open(workspaceId) {
    requireId("workspaceId", workspaceId);
    if (this.#closed) return Promise.reject(new TaskroomStoreError("CLOSED", "the store is closed"));
    let opening = this.#opening.get(workspaceId);
    if (!opening) {
      opening = this.#open(workspaceId);
      this.#opening.set(workspaceId, opening);
      // A failed open (no copy and no server) may be tried again.
      opening.catch(() => this.#opening.delete(workspaceId));
    }
    return opening;
  }

  async #open(workspaceId) {
    await this.#load();
    const copy = await this.#storage.get(this.#key(`replica:${workspaceId}`));
    const state = {
      base: copy ? fromCopy(copy) : { workspace: null, members: new Map(), tasks: new Map(), latestSeq: 0 },
      view: new Map(),
      order: new Map(), // column key → its tasks in board order
      hasCopy: Boolean(copy),
      replica: null,
    };
    this.#replicas.set(workspaceId, state);
    this.#rebase(workspaceId, "open");
    if (copy) this.#emitSync({ workspaceId, kind: "copy", latestSeq: state.base.latestSeq });
    const synced = this.#catchUp(workspaceId).then(() => undefined);
    state.replica = new Replica(this, workspaceId, synced);
    if (copy) {
      synced.catch(() => {}); // a reconnect or a gap tries again
      this.#startClient(workspaceId);
    } else {
      try {
        await synced;
      } catch (error) {
        this.#replicas.delete(workspaceId); // nothing to show: open() may be called again
        throw error;
      }
      // Live events resume from the snapshot's seq, not from 0 (the whole log).
      this.#startClient(workspaceId);
    }
    void this.#drain();
    return state.replica;
  }

  /** Sends what waits now (instead of at the next retry); resolves when the outbox is empty or sending stops. */
  async flush() {
    // A provider may give a token that works now (the user signed in again).
    if (this.#status === "unauthorized" && typeof this.#token === "function") this.#setStatus("idle");
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    await this.#drain();
  }

  /** Stops sending and listening; resolves once everything is persisted. Pending mutations stay in the outbox. */
  async close() {
    if (this.#closed) return this.#writes;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    for (const off of this.#offClient) off();
    this.#offClient = [];
    if (this.#onlineListener) globalThis.removeEventListener?.("online", this.#onlineListener);
    if (this.#ownsClient && this.#client) await this.#client.disconnect();
    // A send under way ends first (its answer is recorded), so a store opened next on the same storage
    // sees the outbox as this one leaves it.
    await this.#draining?.catch(() => {});
    this.#setStatus("closed");
    await this.#writeReplicas();
  }

  // ---- mutations --------------------------------------------------------------------------------------

  /** Creates a task at once under a temporary id (`local-…`); resolves to the task as the app sees it. */
  async createTask(workspaceId, fields) {
    requireId("workspaceId", workspaceId);
    if (!this.#replicas.has(workspaceId)) throw new TypeError(`workspace ${workspaceId} is not open`);
    if (fields?.status !== undefined && fields?.status !== null) this.#requireColumn(workspaceId, fields.status);
    const taskId = `${TEMP_PREFIX}${uuid()}`;
    await this.#enqueue({ kind: "create", workspaceId, taskId, fields: { ...fields } });
    return this.#findTask(taskId);
  }

  /** Edits fields (title, description, assigneeId, dueDate, priority, labels). */
  async updateTask(taskId, fields) {
    const unknown = Object.keys(fields ?? {}).filter((name) => !UPDATABLE.includes(name));
    if (unknown.length > 0) throw new TypeError(`fields: not editable here: ${unknown.join(", ")}`);
    return this.#mutateExisting("update", taskId, { ...fields });
  }

  /** Moves a task to `status`, right below `beforeId` / right above `afterId` (neither: the column's end). */
  async moveTask(taskId, { status, beforeId, afterId } = {}) {
    requireId("taskId", taskId);
    const workspaceId = this.#workspaceOf(this.#resolve(taskId));
    if (workspaceId !== null) this.#requireColumn(workspaceId, status);
    return this.#mutateExisting("move", taskId, { status, beforeId: beforeId ?? null, afterId: afterId ?? null });
  }

  async completeTask(taskId, completed = true) {
    return this.#mutateExisting("complete", taskId, { completed: Boolean(completed) });
  }

  async deleteTask(taskId) {
    return this.#mutateExisting("delete", taskId, {});
  }

  async #mutateExisting(kind, taskId, fields) {
    requireId("taskId", taskId);
    const id = this.#resolve(taskId);
    const workspaceId = this.#workspaceOf(id);
    if (workspaceId === null) throw new TypeError(`task ${taskId} is in no open workspace`);
    // The version the change is based on: what the server had said of the task (none yet for a task
    // still waiting to be created; the create's answer gives it).
    const baseVersion = this.#replicas.get(workspaceId).base.tasks.get(id)?.version ?? null;
    await this.#enqueue({ kind, workspaceId, taskId: id, fields, baseVersion });
    return kind === "delete" ? undefined : this.#findTask(id);
  }

  async #enqueue(partial) {
    if (this.#closed) throw new TaskroomStoreError("CLOSED", "the store is closed");
    await this.#load();
    const mutation = {
      id: uuid(),
      idempotencyKey: uuid(),
      createdAt: new Date().toISOString(),
      attempts: 0,
      baseVersion: null,
      ...partial,
    };
    this.#outbox.push(mutation);
    this.#rebase(mutation.workspaceId, "mutation");
    this.#pendingChanged();
    // Persisted before it is sent: a mutation that reached the server is never forgotten by the client.
    await this.#persistOutbox();
    void this.#drain();
  }

  // ---- the outbox -------------------------------------------------------------------------------------

  #drain() {
    if (this.#draining) return this.#draining;
    if (this.#closed || this.#status === "unauthorized") return Promise.resolve();
    this.#draining = this.#sendAll().finally(() => {
      this.#draining = null;
    });
    return this.#draining;
  }

  async #sendAll() {
    while (this.#outbox.length > 0 && !this.#closed) {
      // In order within a workspace; one whose workspace is not open waits for it (it needs the replica
      // to rebase on), without holding up the others.
      const mutation = this.#outbox.find((m) => this.#replicas.has(m.workspaceId));
      if (!mutation) break;
      this.#setStatus("sending");
      const creating = mutation.kind === "create";
      if (creating) this.#hold(mutation.workspaceId);
      try {
        await this.#send(mutation);
      } catch (error) {
        if (error instanceof NetworkError) {
          this.#scheduleRetry(error);
          return;
        }
        if (error instanceof TaskroomStoreError && error.code === "UNAUTHORIZED") {
          this.#setStatus("unauthorized", { error });
          return;
        }
        // Not the server's answer (a token provider that failed, say): tried again later.
        reportError(error);
        this.#scheduleRetry(error);
        return;
      } finally {
        if (creating) this.#release(mutation.workspaceId);
      }
      this.#attempt = 0; // the server answered (a mutation kept after a conflict comes next again)
    }
    if (!this.#closed) this.#setStatus(this.#outbox.length === 0 ? "idle" : "waiting");
  }

  #scheduleRetry(error) {
    if (this.#closed) return;
    const delayMs = backoffDelay(this.#attempt, this.#retry, this.#random);
    this.#attempt += 1;
    this.#setStatus("waiting", { error, delayMs, attempt: this.#attempt }, true);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#drain();
    }, delayMs);
  }

  // One mutation's request and what its answer does. Resolves "done" or "again"; throws NetworkError to retry.
  async #send(mutation) {
    if (!mutation.sent) {
      // Fixed at the first send: a replay must be the very request its Idempotency-Key was first used for.
      mutation.sent = this.#request(mutation);
      await this.#persistOutbox();
    }
    const request = mutation.sent;
    mutation.attempts += 1;
    const { status, body } = await this.#http(request.method, request.path, request.body, mutation.idempotencyKey);
    if (status >= 200 && status < 300) {
      this.#confirmed(mutation, body);
      return "done";
    }
    if (status === 409 && body?.error?.current) {
      return this.#conflict(mutation, body.error.current);
    }
    if (mutation.kind === "move" && !mutation.replaced && (status === 404 || status === 422) && /beforeId|afterId/.test(JSON.stringify(body))) {
      // The neighbours named when it was first sent no longer fit (others moved them meanwhile). Refused,
      // so it had no effect: sent once more, between the neighbours it has now, as a new request.
      mutation.replaced = true;
      mutation.idempotencyKey = uuid();
      delete mutation.sent;
      await this.#persistOutbox();
      return "again";
    }
    if (status === 404 && mutation.kind === "delete") {
      // Someone else deleted it first: what was asked for holds.
      this.#confirmed(mutation, null);
      return "done";
    }
    if (status === 408 || status === 429 || status >= 500) {
      throw new NetworkError(`${request.method} ${request.path}: ${status}`);
    }
    this.#refuse(mutation, new TaskroomStoreError(body?.error?.code ?? `HTTP_${status}`, body?.error?.message ?? `the server answered ${status}`, { status, body }));
    return "done";
  }

  #request(mutation) {
    const { kind, fields } = mutation;
    const taskId = this.#resolve(mutation.taskId);
    const baseVersion = mutation.baseVersion ?? this.#createdVersion(mutation.taskId);
    const withBase = (body) => (baseVersion === null ? body : { ...body, baseVersion });
    switch (kind) {
      case "create":
        return { method: "POST", path: `/workspaces/${mutation.workspaceId}/tasks`, body: fields };
      case "update":
        return { method: "PATCH", path: `/tasks/${taskId}`, body: withBase(fields) };
      case "move":
        return { method: "POST", path: `/tasks/${taskId}/move`, body: withBase(this.#moveBody(mutation, taskId)) };
      case "complete":
        return { method: "POST", path: `/tasks/${taskId}/complete`, body: fields };
      case "delete":
        return { method: "DELETE", path: `/tasks/${taskId}`, body: undefined };
    }
    throw new TypeError(`unknown mutation ${kind}`);
  }

  // The neighbours named in a move are those the task has in the replica when it is sent, so a move keeps
  // its place relative to its neighbours whatever moved meanwhile.
  // Only a neighbour the server has at that very place is named: one still waiting to be created, or to
  // be moved there itself (completing moves a task too), is not in that column on the server yet.
  #moveBody(mutation, taskId) {
    const { status } = mutation.fields;
    const state = this.#replicas.get(mutation.workspaceId);
    const column = state.order.get(status) ?? EMPTY;
    const index = column.findIndex((task) => task.id === taskId);
    const body = { status };
    const placed = (task) => {
      const known = state.base.tasks.get(task.id);
      return !isTemp(task.id) && known?.status === status && known.position === task.position;
    };
    if (index >= 0) {
      const above = column.slice(0, index).reverse().find(placed);
      const below = column.slice(index + 1).find(placed);
      if (above) body.beforeId = above.id;
      if (below) body.afterId = below.id;
    }
    return body;
  }

  #createdVersion(taskId) {
    if (!isTemp(taskId)) return null;
    const id = this.#ids[taskId];
    if (id === undefined) return null;
    const workspaceId = this.#workspaceOf(id);
    return workspaceId === null ? null : (this.#replicas.get(workspaceId).base.tasks.get(id)?.version ?? null);
  }

  #confirmed(mutation, task) {
    this.#outbox.splice(this.#outbox.indexOf(mutation), 1);
    const state = this.#replicas.get(mutation.workspaceId);
    if (mutation.kind === "create" && task) {
      this.#ids[mutation.taskId] = task.id;
      void this.#persist("ids", this.#ids);
    }
    if (mutation.kind === "delete") {
      state.base.tasks.delete(this.#resolve(mutation.taskId));
    } else if (task) {
      putTask(state.base, task);
      this.#advanceBase(mutation, task);
    }
    this.#rebase(mutation.workspaceId, "confirmed");
    this.#pendingChanged();
    void this.#persistOutbox();
    this.#persistReplica(mutation.workspaceId);
  }

  // Later mutations of the same task were made on top of this one: when nobody else changed the task
  // in between (the answer is the very next version), they are based on the answer, so that a move
  // after a complete (both change the column) does not conflict with the client's own earlier change.
  #advanceBase(mutation, task) {
    const base = mutation.baseVersion;
    if (base === null || task.version !== base + 1) return;
    const id = this.#resolve(mutation.taskId);
    for (const later of this.#outbox) {
      if (this.#resolve(later.taskId) === id && later.baseVersion === base && !later.sent) later.baseVersion = task.version;
    }
  }

  async #conflict(mutation, current) {
    const state = this.#replicas.get(mutation.workspaceId);
    putTask(state.base, current);
    this.#rebase(mutation.workspaceId, "conflict");
    let choice = "theirs";
    if (this.#onConflict) {
      try {
        choice = await this.#onConflict(publicMutation(mutation), structuredClone(current));
      } catch (error) {
        reportError(error);
      }
    }
    if (choice === "mine") {
      // The same change again, now based on the version it met; a new request, so a new key.
      mutation.baseVersion = current.version;
      mutation.idempotencyKey = uuid();
      delete mutation.sent;
      await this.#persistOutbox();
      return "again";
    }
    this.#drop(mutation, "conflict");
    return "done";
  }

  #refuse(mutation, error) {
    this.#drop(mutation, "refused");
    const callbacks = [[mutation, error]];
    // A task that was never created takes the mutations made on it along.
    if (mutation.kind === "create") {
      for (const later of this.#outbox.filter((m) => m.taskId === mutation.taskId)) {
        this.#outbox.splice(this.#outbox.indexOf(later), 1);
        callbacks.push([later, new TaskroomStoreError("NOT_CREATED", "its task was refused", {})]);
      }
      this.#rebase(mutation.workspaceId, "refused");
      this.#pendingChanged();
      void this.#persistOutbox();
    }
    for (const [refused, reason] of callbacks) {
      if (this.#onRefused) safely(() => this.#onRefused(publicMutation(refused), reason));
      else reportError(reason);
    }
  }

  #drop(mutation, reason) {
    const index = this.#outbox.indexOf(mutation);
    if (index >= 0) this.#outbox.splice(index, 1);
    this.#rebase(mutation.workspaceId, reason);
    this.#pendingChanged();
    void this.#persistOutbox();
  }

  // ---- HTTP -------------------------------------------------------------------------------------------

  async #http(method, path, body, idempotencyKey) {
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.#currentToken();
      const headers = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
      let response;
      try {
        response = await this.#fetch(`${this.#api}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          // A black-holed network never answers: given up, then retried like any network error.
          signal: typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(this.#requestTimeoutMs) : undefined,
        });
      } catch (error) {
        throw new NetworkError(`${method} ${path}: ${error?.message ?? error}`);
      }
      let text;
      try {
        text = await response.text();
      } catch (error) {
        throw new NetworkError(`${method} ${path}: ${error?.message ?? error}`);
      }
      let parsed = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      if (response.status === 401) {
        // A provider may have a fresher token; a string, or the same token again, cannot help.
        if (typeof this.#token === "string" || attempt >= 1 || token === this.#refusedToken) {
          this.#refusedToken = token;
          throw new TaskroomStoreError("UNAUTHORIZED", "the server refused the token", { status: 401, body: parsed });
        }
        this.#refusedToken = token;
        continue;
      }
      return { status: response.status, body: parsed };
    }
  }

  async #get(path) {
    const { status, body } = await this.#http("GET", path);
    if (status >= 200 && status < 300) return body;
    if (status === 408 || status === 429 || status >= 500) throw new NetworkError(`GET ${path}: ${status}`);
    throw new TaskroomStoreError(body?.error?.code ?? `HTTP_${status}`, body?.error?.message ?? `GET ${path}: ${status}`, { status, body });
  }

  async #currentToken() {
    const token = typeof this.#token === "function" ? await this.#token() : this.#token;
    if (typeof token !== "string" || token === "") {
      throw new TaskroomStoreError("BAD_TOKEN", "the token provider gave no token (a non-empty string)");
    }
    return token;
  }

  // ---- catching up ------------------------------------------------------------------------------------

  #catchUp(workspaceId) {
    const running = this.#catchingUp.get(workspaceId);
    if (running) return running;
    this.#hold(workspaceId);
    const promise = this.#runCatchUp(workspaceId)
      .catch((error) => {
        if (error instanceof TaskroomStoreError && error.code === "UNAUTHORIZED") this.#setStatus("unauthorized", { error });
        throw error;
      })
      .finally(() => {
        this.#catchingUp.delete(workspaceId);
        this.#release(workspaceId);
      });
    this.#catchingUp.set(workspaceId, promise);
    return promise;
  }

  // `report`: false when it follows a snapshot, which reports for both.
  async #runCatchUp(workspaceId, report = true) {
    const state = this.#replicas.get(workspaceId);
    if (!state.hasCopy) return this.#loadSnapshot(workspaceId, "no copy");
    const ws = encodeURIComponent(workspaceId);
    const changed = [];
    for (let first = true; ; first = false) {
      const since = state.base.latestSeq;
      let page;
      try {
        page = await this.#get(`/workspaces/${ws}/events?since=${since}&limit=${Math.min(this.#pageLimit ?? 500, 500)}`);
      } catch (error) {
        if (error instanceof TaskroomStoreError && error.status === 410) return this.#loadSnapshot(workspaceId, "gone");
        throw error;
      }
      if (first && page.latestSeq - since > this.#maxReplay) return this.#loadSnapshot(workspaceId, "too far behind");
      for (const envelope of page.events) {
        if (this.#applyEvent(state.base, envelope)) changed.push(envelope.seq);
      }
      if (!page.hasMore || page.events.length === 0) break;
    }
    this.#rebase(workspaceId, "caught up");
    this.#persistReplica(workspaceId);
    if (report) this.#emitSync({ workspaceId, kind: "events", events: changed.length, latestSeq: state.base.latestSeq });
    return state;
  }

  async #loadSnapshot(workspaceId, reason) {
    const ws = encodeURIComponent(workspaceId);
    let snapshot;
    try {
      snapshot = await this.#readSnapshot(ws);
    } catch (error) {
      if (!(error instanceof TaskroomStoreError && error.status === 404)) throw error;
      // A node without the snapshot route (before v1.1): the same from the workspace (whose `seq` is read
      // first), its members and its tasks. Events after that seq are replayed over rows read later, which only
      // repeats steps those rows already took (each task event carries the whole task).
      snapshot = await this.#composeSnapshot(ws);
    }
    const state = this.#replicas.get(workspaceId);
    state.base = fromCopy(snapshot);
    state.hasCopy = true;
    // Events after the snapshot's seq (read from the first page) are then applied on top.
    await this.#runCatchUp(workspaceId, false);
    this.#emitSync({ workspaceId, kind: "snapshot", reason, latestSeq: state.base.latestSeq });
    return state;
  }

  async #readSnapshot(ws) {
    let first = null;
    const tasks = [];
    let cursor = null;
    do {
      // The server's page size unless told otherwise (it reads a few thousand tasks at once).
      const params = new URLSearchParams();
      if (this.#pageLimit !== null) params.set("limit", String(this.#pageLimit));
      if (cursor !== null) params.set("cursor", cursor);
      const query = params.toString() === "" ? "" : `?${params}`;
      const page = await this.#get(`/workspaces/${ws}/snapshot${query}`);
      first ??= page;
      tasks.push(...page.tasks);
      cursor = page.nextCursor ?? null;
    } while (cursor !== null);
    return { workspace: first.workspace, members: first.members, tasks, latestSeq: first.latestSeq };
  }

  async #composeSnapshot(ws) {
    const workspace = await this.#get(`/workspaces/${ws}`);
    const members = (await this.#get(`/workspaces/${ws}/members`)).items;
    const tasks = [];
    let cursor = null;
    do {
      const query = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await this.#get(`/workspaces/${ws}/tasks?limit=${Math.min(this.#pageLimit ?? 500, 500)}${query}`);
      tasks.push(...page.items);
      cursor = page.nextCursor ?? null;
    } while (cursor !== null);
    return { workspace, members, tasks, latestSeq: workspace.seq ?? 0 };
  }

  // ---- live events ------------------------------------------------------------------------------------

  #startClient(workspaceId) {
    if (this.#client === null) {
      this.#client = new TodoWebSocketClient({
        url: this.#wsUrl,
        token: this.#token,
        WebSocket: this.#WebSocket,
        reconnect: this.#reconnectPolicy,
        resume: this.latestSeq(workspaceId) > 0 ? { [workspaceId]: this.latestSeq(workspaceId) } : undefined,
      });
    }
    if (this.#offClient.length === 0) {
      for (const type of LOGGED_TYPES) {
        this.#offClient.push(this.#client.on(type, (_data, envelope) => this.#live(envelope)));
      }
      this.#offClient.push(
        this.#client.onSyncResponse((data) => {
          if (data?.reset && this.#replicas.has(data.workspaceId)) {
            void this.#catchUp(data.workspaceId).catch(() => {});
          }
        }),
      );
      // The server is back: what waits is sent now rather than at the next retry.
      this.#offClient.push(
        this.#client.onStateChange((state) => {
          if (state === "open") {
            for (const id of this.#replicas.keys()) void this.#catchUp(id).catch(() => {});
            void this.flush();
          }
        }),
      );
      if (typeof globalThis.addEventListener === "function") {
        this.#onlineListener = () => void this.flush();
        globalThis.addEventListener("online", this.#onlineListener);
      }
    }
    if (this.#ownsClient && this.#client.state === "closed") this.#client.connect().catch(() => {});
  }

  // Live events wait while the replica is being caught up (they follow what the log gives), and while a
  // create is sent (so its TASK_CREATED does not show the task twice before the temporary id is mapped).
  #hold(workspaceId) {
    this.#holds.set(workspaceId, (this.#holds.get(workspaceId) ?? 0) + 1);
    if (!this.#held.has(workspaceId)) this.#held.set(workspaceId, []);
  }

  #release(workspaceId) {
    const count = (this.#holds.get(workspaceId) ?? 1) - 1;
    if (count > 0) {
      this.#holds.set(workspaceId, count);
      return;
    }
    this.#holds.delete(workspaceId);
    const held = this.#held.get(workspaceId) ?? [];
    this.#held.delete(workspaceId);
    held.sort((a, b) => a.seq - b.seq);
    for (const envelope of held) this.#live(envelope);
  }

  #live(envelope) {
    if (this.#closed) return;
    const workspaceId = envelope?.data?.workspaceId;
    const state = this.#replicas.get(workspaceId);
    if (!state) return;
    const held = this.#held.get(workspaceId);
    if (held) {
      held.push(envelope);
      return;
    }
    if (envelope.seq <= state.base.latestSeq) return; // applied already
    if (envelope.seq > state.base.latestSeq + 1) {
      // A gap (a client that joined the room later than our copy's seq): fill it from the log.
      void this.#catchUp(workspaceId).catch(() => {});
      this.#held.get(workspaceId)?.push(envelope);
      return;
    }
    this.#applyEvent(state.base, envelope);
    this.#rebase(workspaceId, envelope.type);
    this.#persistReplica(workspaceId);
  }

  // Applies one logged event to a server state, once: false when its seq was applied already.
  #applyEvent(base, envelope) {
    if (envelope.seq <= base.latestSeq) return false;
    const { type, data } = envelope;
    switch (type) {
      case "TASK_CREATED":
      case "TASK_UPDATED":
      case "TASK_COMPLETED":
      case "TASK_MOVED":
      case "TASK_RESTORED": // back from the trash, the whole task
        putTask(base, data.task);
        break;
      case "TASK_DELETED":
        base.tasks.delete(data.taskId);
        break;
      case "WORKSPACE_UPDATED":
        base.workspace = { ...base.workspace, ...data.workspace, role: base.workspace?.role ?? data.workspace?.role };
        break;
      case "WORKSPACE_DELETED":
        base.deleted = true;
        base.tasks.clear();
        break;
      case "WORKSPACE_MEMBER_ADDED":
      case "WORKSPACE_MEMBER_UPDATED":
        if (data.member) base.members.set(data.member.userId, data.member);
        break;
      case "WORKSPACE_MEMBER_REMOVED":
        base.members.delete(data.userId);
        if (data.userId === this.#client?.userId) {
          // Removed: nothing more comes from it, and its copy is not kept.
          base.deleted = true;
          base.tasks.clear();
        }
        break;
    }
    base.latestSeq = envelope.seq;
    return true;
  }

  // ---- the view: server state + pending mutations -----------------------------------------------------

  #rebase(workspaceId, reason) {
    const state = this.#replicas.get(workspaceId);
    if (!state) return;
    const tasks = new Map();
    for (const [id, task] of state.base.tasks) tasks.set(id, task);
    const columns = columnsOf(state.base);
    for (const mutation of this.#outbox) {
      if (mutation.workspaceId === workspaceId) this.#applyMutation(tasks, mutation, columns);
    }
    // Unchanged tasks keep their object, so a view compares by identity.
    const view = new Map();
    for (const [id, task] of tasks) {
      const previous = state.view.get(id);
      view.set(id, previous && shallowEqual(previous, task) ? previous : Object.freeze({ ...task }));
    }
    state.view = view;
    // The workspace's columns in its order; a task in a column the replica does not know (yet) is kept
    // after them rather than hidden.
    const byColumn = new Map(columns.map((column) => [column.key, []]));
    for (const task of view.values()) {
      if (!byColumn.has(task.status)) byColumn.set(task.status, []);
      byColumn.get(task.status).push(task);
    }
    const order = new Map();
    for (const [key, column] of byColumn) {
      column.sort(byPosition);
      const previous = state.order.get(key) ?? EMPTY;
      const same = previous.length === column.length && previous.every((task, i) => task === column[i]);
      order.set(key, same ? previous : Object.freeze(column));
    }
    state.order = order;
    this.#notify({ workspaceId, reason });
  }

  // The server's rules (PROTOCOL §7, one meaning of done), applied to the columns the replica knows, so
  // what the app sees at once is where the server's answer will put the task.
  #applyMutation(tasks, mutation, columns) {
    const id = this.#resolve(mutation.taskId);
    const current = tasks.get(id);
    const isDone = (key) => columns.some((column) => column.key === key && column.done);
    const endOf = (status) => {
      const last = [...tasks.values()].filter((t) => t.status === status && t.id !== id).sort(byPosition).at(-1);
      return positionBetween(last?.position ?? null, null);
    };
    switch (mutation.kind) {
      case "create": {
        const { fields } = mutation;
        const status = fields.status ?? firstColumn(columns, false);
        const done = isDone(status);
        tasks.set(id, {
          id,
          workspaceId: mutation.workspaceId,
          title: fields.title ?? "",
          description: fields.description ?? "",
          status,
          position: endOf(status),
          completed: done,
          completedAt: done ? mutation.createdAt : null,
          assigneeId: fields.assigneeId ?? null,
          dueDate: fields.dueDate ?? null,
          priority: fields.priority ?? "medium",
          labels: fields.labels ?? [],
          createdBy: this.#client?.userId ?? null,
          createdAt: mutation.createdAt,
          updatedAt: mutation.createdAt,
          version: 0,
          pending: true,
        });
        return;
      }
      case "update":
        if (current) tasks.set(id, { ...current, ...mutation.fields, pending: true });
        return;
      case "complete": {
        // Completing moves the task to the end of the first done column, un-completing to the end of the
        // first open one; asking for what holds already changes nothing.
        const { completed } = mutation.fields;
        if (!current || current.completed === completed) return;
        const status = firstColumn(columns, completed);
        const completedAt = completed ? mutation.createdAt : null;
        tasks.set(id, { ...current, status, position: endOf(status), completed, completedAt, pending: true });
        return;
      }
      case "delete":
        tasks.delete(id);
        return;
      case "move": {
        if (!current) return;
        const { status } = mutation.fields;
        const column = [...tasks.values()].filter((t) => t.status === status && t.id !== id).sort(byPosition);
        const beforeId = this.#resolve(mutation.fields.beforeId);
        const afterId = this.#resolve(mutation.fields.afterId);
        // Right below `beforeId` when it is still in the column, else right above `afterId`, else the end.
        let index = column.findIndex((t) => t.id === beforeId);
        if (index >= 0) index += 1;
        else {
          index = column.findIndex((t) => t.id === afterId);
          if (index < 0) index = column.length;
        }
        const position = positionBetween(column[index - 1]?.position ?? null, column[index]?.position ?? null);
        // The column it lands in says whether it is completed (between two done columns: unchanged).
        const done = isDone(status);
        const completion =
          current.completed === done ? {} : { completed: done, completedAt: done ? mutation.createdAt : null };
        tasks.set(id, { ...current, status, position, ...completion, pending: true });
        return;
      }
    }
  }

  #notify(change) {
    for (const callback of [...this.#subscribers]) safely(() => callback(change));
    for (const entry of [...this.#viewSubscribers]) {
      const value = entry.read();
      if (value !== entry.last) {
        entry.last = value;
        safely(() => entry.callback(value));
      }
    }
  }

  #pendingChanged() {
    const pending = this.pending;
    for (const callback of [...this.#pendingSubscribers]) safely(() => callback(pending));
  }

  #setStatus(status, detail = {}, always = false) {
    if (status === this.#status && !always) return;
    this.#status = status;
    for (const callback of [...this.#statusSubscribers]) safely(() => callback(status, detail));
  }

  #emitSync(event) {
    for (const callback of [...this.#syncSubscribers]) safely(() => callback(event));
  }

  // ---- ids --------------------------------------------------------------------------------------------

  #resolve(id) {
    if (id === null || id === undefined) return id;
    return this.#ids[id] ?? id;
  }

  #workspaceOf(id) {
    for (const [workspaceId, state] of this.#replicas) {
      if (state.view.has(id) || state.base.tasks.has(id)) return workspaceId;
    }
    for (const mutation of this.#outbox) {
      if (mutation.taskId === id) return mutation.workspaceId;
    }
    return null;
  }

  #findTask(id) {
    const resolved = this.#resolve(id);
    for (const state of this.#replicas.values()) {
      const task = state.view.get(resolved);
      if (task) return task;
    }
    return undefined;
  }

  // ---- persistence ------------------------------------------------------------------------------------

  #key(name) {
    return `${this.#prefix}:${name}`;
  }

  #load() {
    this.#loaded ??= (async () => {
      this.#outbox = (await this.#storage.get(this.#key("outbox"))) ?? [];
      this.#ids = (await this.#storage.get(this.#key("ids"))) ?? {};
      if (this.#outbox.length > 0) this.#pendingChanged();
    })();
    return this.#loaded;
  }

  #persist(name, value) {
    const copy = structuredClone(value);
    this.#writes = this.#writes.then(() => this.#storage.put(this.#key(name), copy)).catch(reportError);
    return this.#writes;
  }

  #persistOutbox() {
    return this.#persist("outbox", this.#outbox);
  }

  // The copy of the server state is written at most every REPLICA_WRITE_MS (a busy board sends many events,
  // and each write is the whole workspace). Losing the last ones is harmless: the next open catches up
  // from the seq that was written. The outbox, which is not, is written at once.
  #persistReplica(workspaceId) {
    this.#dirty.add(workspaceId);
    this.#dirtyTimer ??= setTimeout(() => this.#writeReplicas(), REPLICA_WRITE_MS);
  }

  #writeReplicas() {
    clearTimeout(this.#dirtyTimer);
    this.#dirtyTimer = null;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const workspaceId of dirty) this.#writeReplica(workspaceId);
    return this.#writes;
  }

  #writeReplica(workspaceId) {
    const state = this.#replicas.get(workspaceId);
    if (!state) return this.#writes;
    const { base } = state;
    if (base.deleted) {
      const key = this.#key(`replica:${workspaceId}`);
      this.#writes = this.#writes.then(() => this.#storage.delete(key)).catch(reportError);
      return this.#writes;
    }
    return this.#persist(`replica:${workspaceId}`, {
      workspace: base.workspace,
      members: [...base.members.values()],
      tasks: [...base.tasks.values()],
      latestSeq: base.latestSeq,
      savedAt: new Date().toISOString(),
    });
  }
}

// ---- helpers --------------------------------------------------------------------------------------------

const EMPTY = Object.freeze([]);
const REPLICA_WRITE_MS = 250;

function makeStorage(persist) {
  const kind = persist ?? (typeof globalThis.indexedDB === "undefined" ? "memory" : "indexeddb");
  if (kind === "memory") return new MemoryStorage();
  if (kind === "indexeddb") return new IndexedDBStorage();
  throw new TypeError('persist: "indexeddb" or "memory" (or pass a storage adapter)');
}

function httpBase(url) {
  let parsed;
  try {
    parsed = new URL(String(url), globalThis.location?.href);
  } catch {
    throw new TypeError(`url: not a URL: ${url}`);
  }
  if (parsed.protocol === "ws:") parsed.protocol = "http:";
  if (parsed.protocol === "wss:") parsed.protocol = "https:";
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new TypeError("url: an http(s) URL of the server");
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/api\/v1(\/ws)?$/, "");
  return `${parsed.origin}${path}`;
}

function fromCopy(copy) {
  const base = {
    workspace: copy.workspace ?? null,
    members: new Map((copy.members ?? []).map((member) => [member.userId, member])),
    tasks: new Map(),
    latestSeq: copy.latestSeq ?? 0,
  };
  for (const task of copy.tasks ?? []) base.tasks.set(task.id, task);
  return base;
}

function columnsOf(base) {
  const columns = base?.workspace?.columns;
  return Array.isArray(columns) && columns.length > 0 ? columns : DEFAULT_COLUMNS;
}

// The key of the first done column (`done` true) or of the first that is not (false).
function firstColumn(columns, done) {
  return (columns.find((column) => Boolean(column.done) === done) ?? DEFAULT_COLUMNS.find((c) => c.done === done)).key;
}

// A task event or answer never takes a task back to an older version (a replayed event, a late answer).
function putTask(base, task) {
  const current = base.tasks.get(task.id);
  if (!current || !(task.version < current.version)) base.tasks.set(task.id, task);
}

function byPosition(a, b) {
  if (a.position < b.position) return -1;
  if (a.position > b.position) return 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function shallowEqual(a, b) {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.is(a[key], b[key]));
}

function publicMutation(mutation) {
  const { id, kind, workspaceId, taskId, fields, baseVersion, idempotencyKey, createdAt, attempts } = mutation;
  return structuredClone({ id, kind, workspaceId, taskId, fields, baseVersion, idempotencyKey, createdAt, attempts });
}

function isTemp(id) {
  return typeof id === "string" && id.startsWith(TEMP_PREFIX);
}

function uuid() {
  return globalThis.crypto.randomUUID();
}

function requireId(name, value) {
  if (typeof value !== "string" || value === "") throw new TypeError(`${name}: a non-empty string is required`);
}

function addSubscriber(set, callback) {
  if (typeof callback !== "function") throw new TypeError("callback: a function is required");
  const entry = (...args) => callback(...args);
  set.add(entry);
  return () => set.delete(entry);
}

// What the app did not ask to hear (a refusal with no onRefused, a failed write to storage) still shows.
function reportError(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error(error);
}

function safely(fn) {
  try {
    fn();
  } catch (error) {
    reportError(error);
  }
}

export default TaskroomStore;
