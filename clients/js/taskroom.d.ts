// Type declarations of the Taskroom JavaScript client (taskroom.js, served beside this file).
// The wire contract is PROTOCOL.md §3; docs/clients.md describes the behaviour.

// The offline-first store, declared beside its own file.
export { TaskroomStore, MemoryStorage, IndexedDBStorage, TaskroomStoreError } from "./store.js";

/** A column key of the task's workspace (`todo`, `in_progress`, `done` unless its columns were changed). */
export type TaskStatus = string;
export type Priority = "low" | "medium" | "high" | "urgent";
export type Role = "owner" | "admin" | "member" | "viewer";
export type PresenceStatus = "online" | "away" | "busy";
/** `unauthorized`: stopped because the server refused its tokens (PROTOCOL.md §4), until the next connect(). */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed" | "unauthorized";
export type ErrorCode =
  | "INVALID_MESSAGE"
  | "UNKNOWN_TYPE"
  | "NOT_AUTHENTICATED"
  | "UNAUTHORIZED"
  | "TOKEN_EXPIRED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "FEATURE_DISABLED"
  | "INTERNAL";

/** ISO-8601 UTC time, e.g. "2026-11-26T14:00:00.000Z". */
export type Timestamp = string;

export interface Task {
  id: string;
  workspaceId: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  /** Orders tasks inside a column; compared byte by byte. */
  position: string;
  completed: boolean;
  completedAt: Timestamp | null;
  assigneeId: string | null;
  dueDate: Timestamp | null;
  priority: Priority;
  /** Up to 20, each 1–40 characters, in the order given; [] when none. */
  labels: string[];
  createdBy: string;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  version: number;
}

export interface Workspace {
  id: string;
  name: string;
  description: string | null;
  ownerId: string;
  /** The viewer's role; absent in WORKSPACE_UPDATED (it is per viewer). */
  role?: Role;
  seq: number;
  /** The board's columns in order; a task is completed exactly when its column is `done`. */
  columns: Column[];
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface Column {
  key: string;
  name: string;
  done: boolean;
}

export interface Member {
  userId: string;
  email: string;
  name: string;
  role: Role;
  joinedAt: Timestamp;
  /** "service" for an API key's own user (one per key), "person" for everyone else. */
  kind: "person" | "service";
}

/** Every frame: `data` is the payload the handlers get first. */
export interface Envelope<T = unknown, K extends string = string> {
  type: K;
  data: T;
  timestamp: Timestamp;
  /** On frames that answer a client frame: that frame's `id`. */
  replyTo?: string;
  /** On logged events: the workspace's event number. */
  seq?: number;
  eventId?: string;
}

/** A logged event as it comes live, in a SYNC_RESPONSE, or from GET /workspaces/{id}/events. */
export interface LoggedEnvelope<T = unknown, K extends string = string> extends Envelope<T, K> {
  seq: number;
  eventId: string;
}

export interface TaskCreatedData {
  workspaceId: string;
  task: Task;
  actorId: string;
}
export interface TaskUpdatedData {
  workspaceId: string;
  task: Task;
  /** Names of the fields that changed. */
  changes: string[];
  actorId: string;
}
export interface TaskDeletedData {
  workspaceId: string;
  taskId: string;
  actorId: string;
}
/** Also when un-completed: `task.completed` says which. */
export interface TaskCompletedData {
  workspaceId: string;
  task: Task;
  actorId: string;
}
export interface TaskMovedData {
  workspaceId: string;
  task: Task;
  from: { status: TaskStatus; position: string };
  to: { status: TaskStatus; position: string };
  actorId: string;
}
/** A task brought back from the trash (§7), where it was. */
export interface TaskRestoredData {
  workspaceId: string;
  task: Task;
  actorId: string;
}
/** A comment on a task (§7). `@{userId}` in `body` mentions that member; `mentions` lists them. */
export interface TaskComment {
  id: string;
  taskId: string;
  authorId: string;
  body: string;
  mentions: string[];
  createdAt: string;
  editedAt: string | null;
}
export interface CommentAddedData {
  workspaceId: string;
  taskId: string;
  comment: TaskComment;
  actorId: string;
}
export interface CommentUpdatedData {
  workspaceId: string;
  taskId: string;
  comment: TaskComment;
  actorId: string;
}
export interface CommentDeletedData {
  workspaceId: string;
  taskId: string;
  commentId: string;
  actorId: string;
}
export type NotificationKind = "mention" | "assigned" | "comment";
export interface NotificationItem {
  id: string;
  kind: NotificationKind;
  workspaceId: string;
  taskId: string | null;
  actorId: string | null;
  createdAt: string;
  readAt: string | null;
}
/** To the user's own connections only (no `seq`), on every node. */
export interface NotificationData {
  notification: NotificationItem;
  unreadCount: number;
}
export interface WorkspaceCreatedData {
  workspace: Workspace;
  actorId: string;
}
export interface WorkspaceUpdatedData {
  workspaceId: string;
  workspace: Workspace;
  actorId: string;
}
export interface WorkspaceDeletedData {
  workspaceId: string;
  actorId: string;
}
export interface WorkspaceMemberAddedData {
  workspaceId: string;
  member: Member;
  actorId: string;
}
/** A role change (this server's addition to §3.2). */
export interface WorkspaceMemberUpdatedData {
  workspaceId: string;
  member: Member;
  actorId: string;
}
export interface WorkspaceMemberRemovedData {
  workspaceId: string;
  userId: string;
  actorId: string;
}
export interface UserPresenceData {
  workspaceId: string;
  userId: string;
  status: PresenceStatus | "offline";
  lastSeen: Timestamp;
}
export interface UserTypingData {
  workspaceId: string;
  taskId: string;
  userId: string;
  isTyping: boolean;
}
export interface CursorPositionData {
  workspaceId: string;
  taskId: string | null;
  userId: string;
  position: Record<string, unknown>;
}
export interface PresenceStateData {
  workspaceId: string;
  users: Array<{ userId: string; status: PresenceStatus; lastSeen: Timestamp }>;
}
export interface Snapshot {
  workspace: Workspace;
  members: Member[];
  tasks: Task[];
}
export type SyncResponseData =
  | { workspaceId: string; events: LoggedEnvelope[]; latestSeq: number; hasMore: boolean; reset?: false }
  | { workspaceId: string; reset: true; snapshot: Snapshot; latestSeq: number };
export interface ErrorData {
  code: ErrorCode;
  message: string;
  replyTo?: string;
}

/** Payload of each frame type a handler can subscribe to. */
export interface EventDataMap {
  TASK_CREATED: TaskCreatedData;
  TASK_UPDATED: TaskUpdatedData;
  TASK_DELETED: TaskDeletedData;
  TASK_COMPLETED: TaskCompletedData;
  TASK_MOVED: TaskMovedData;
  TASK_RESTORED: TaskRestoredData;
  COMMENT_ADDED: CommentAddedData;
  COMMENT_UPDATED: CommentUpdatedData;
  COMMENT_DELETED: CommentDeletedData;
  NOTIFICATION: NotificationData;
  WORKSPACE_CREATED: WorkspaceCreatedData;
  WORKSPACE_UPDATED: WorkspaceUpdatedData;
  WORKSPACE_DELETED: WorkspaceDeletedData;
  WORKSPACE_MEMBER_ADDED: WorkspaceMemberAddedData;
  WORKSPACE_MEMBER_UPDATED: WorkspaceMemberUpdatedData;
  WORKSPACE_MEMBER_REMOVED: WorkspaceMemberRemovedData;
  USER_PRESENCE: UserPresenceData;
  USER_TYPING: UserTypingData;
  CURSOR_POSITION: CursorPositionData;
  PRESENCE_STATE: PresenceStateData;
  SYNC_RESPONSE: SyncResponseData;
  ERROR: ErrorData;
}
export type EventType = keyof EventDataMap;

/** Handlers get the event's `data` first and the whole envelope (with `seq`, `eventId`) second. */
export type Handler<K extends EventType> = (data: EventDataMap[K], envelope: Envelope<EventDataMap[K], K>) => void;
export type Unsubscribe = () => void;

/**
 * Called on every connect, before expiry and after a 4401. It may throw TokenUnavailableError (no token:
 * stop), and may carry `tokenRefused(token)`, which the client calls when the server refused a token, before
 * asking again (so that a provider holding its token fetches a new one instead of handing it back).
 */
export type TokenProvider = (() => string | Promise<string>) & {
  tokenRefused?: (token: string) => void | Promise<void>;
};

export interface ReconnectPolicy {
  /** No reconnect sooner than this after a close (default 500). */
  floorMs: number;
  /** The jitter window starts here and doubles per failed attempt (default 1000). */
  baseMs: number;
  /** Largest wait (default 30000). */
  capMs: number;
  /** A connection authenticated this long resets the attempt count (default 10000). */
  healthyAfterMs: number;
  /** An attempt not authenticated by then is given up (default 15000). */
  openTimeoutMs: number;
}

export interface ClientOptions {
  /** `ws(s)://host/api/v1/ws`, or the server's `http(s)://` base (then `/api/v1/ws` is appended). */
  url: string;
  /** An access token, or a function giving a fresh one (called on every connect and before expiry). */
  token: string | TokenProvider;
  /** Join only these workspaces (default: every workspace of the user). */
  workspaceIds?: string[];
  /** The WebSocket class. Default: globalThis.WebSocket, else (Node 20) the `ws` package, imported on the first connect. */
  WebSocket?: new (url: string) => unknown;
  /** Last seq already known per workspace: the first connection resumes after it. */
  resume?: Record<string, number>;
  reconnect?: Partial<ReconnectPolicy>;
  /** Send PING after this much silence; 0 turns it off (default 25000). */
  heartbeatMs?: number;
  /** Give the link up when nothing arrives this long after a PING (default 10000). */
  pongTimeoutMs?: number;
}

export interface StateChangeDetail {
  previous: ClientState;
  /** Close code of the connection that ended, when one did. */
  code?: number;
  reason?: string;
  /** Why an attempt failed before a socket existed (e.g. the token provider threw), or why the client gave up. */
  error?: unknown;
  /** Wait before the next attempt, and its number since the last healthy connection. */
  delayMs?: number;
  attempt?: number;
  /** On `open`: whether this was a reconnect (the client resumed), the user, and refused workspaceIds. */
  resumed?: boolean;
  userId?: string;
  denied?: string[];
}

export interface SyncOptions {
  /** Deliver again every event after this seq (default: the last seq seen). */
  sinceSeq?: number;
  /** Events per SYNC_REQUEST page (server: 1–1000, default 500). */
  limit?: number;
}

export interface SyncResult {
  workspaceId: string;
  /** The events this sync delivered to the handlers (duplicates left out). */
  events: LoggedEnvelope[];
  latestSeq: number;
  /** True when the server answered with a snapshot (past retention); `snapshot` is then set. */
  reset: boolean;
  snapshot?: Snapshot;
}

export declare const STATES: readonly ClientState[];
/** Connects refused in a row (4401 before authenticating) after which the client stops as `unauthorized`. */
export declare const MAX_REFUSED_CONNECTS: number;
export declare const PRESENCE_STATUSES: readonly PresenceStatus[];
export declare const EVENT_HANDLERS: Readonly<Record<EventType, string>>;
export declare const DEFAULT_RECONNECT: Readonly<ReconnectPolicy>;

/** Wait before attempt `attempt`: `min(cap, floor + random() * min(cap, base * 2^attempt))`. */
export declare function backoffDelay(attempt: number, policy?: Partial<ReconnectPolicy>, random?: () => number): number;
/** The WebSocket URL for a ws(s) URL (unchanged) or an http(s) base (`/api/v1/ws` appended). */
export declare function toWebSocketUrl(url: string, base?: string): string;

export declare class TaskroomClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string);
}

/** Thrown by a token provider that has no token to give: the client stops as `unauthorized` at once. */
export declare class TokenUnavailableError extends TaskroomClientError {
  constructor(message?: string);
}

export declare class TodoWebSocketClient {
  constructor(options: ClientOptions);
  readonly state: ClientState;
  readonly url: string;
  readonly userId: string | null;
  readonly connectionId: string | null;
  /** The last seq delivered for a workspace. */
  lastSeq(workspaceId: string): number | undefined;

  /** Resolves once authenticated; rejects if the client closes first (disconnect(), or `unauthorized`: code "UNAUTHORIZED"). */
  connect(): Promise<void>;
  /** Closes with 1000 and stops reconnecting. */
  disconnect(): Promise<void>;

  on<K extends EventType>(type: K, callback: Handler<K>): Unsubscribe;
  /** On every change of state, and on every retry scheduled (the same state, a new `attempt` and `delayMs`). */
  onStateChange(callback: (state: ClientState, detail: StateChangeDetail) => void): Unsubscribe;

  onTaskCreated(callback: Handler<"TASK_CREATED">): Unsubscribe;
  onTaskUpdated(callback: Handler<"TASK_UPDATED">): Unsubscribe;
  onTaskDeleted(callback: Handler<"TASK_DELETED">): Unsubscribe;
  onTaskCompleted(callback: Handler<"TASK_COMPLETED">): Unsubscribe;
  onTaskMoved(callback: Handler<"TASK_MOVED">): Unsubscribe;
  onTaskRestored(callback: Handler<"TASK_RESTORED">): Unsubscribe;
  onCommentAdded(callback: Handler<"COMMENT_ADDED">): Unsubscribe;
  onCommentUpdated(callback: Handler<"COMMENT_UPDATED">): Unsubscribe;
  onCommentDeleted(callback: Handler<"COMMENT_DELETED">): Unsubscribe;
  onNotification(callback: Handler<"NOTIFICATION">): Unsubscribe;
  onWorkspaceCreated(callback: Handler<"WORKSPACE_CREATED">): Unsubscribe;
  onWorkspaceUpdated(callback: Handler<"WORKSPACE_UPDATED">): Unsubscribe;
  onWorkspaceDeleted(callback: Handler<"WORKSPACE_DELETED">): Unsubscribe;
  onWorkspaceMemberAdded(callback: Handler<"WORKSPACE_MEMBER_ADDED">): Unsubscribe;
  onWorkspaceMemberUpdated(callback: Handler<"WORKSPACE_MEMBER_UPDATED">): Unsubscribe;
  onWorkspaceMemberRemoved(callback: Handler<"WORKSPACE_MEMBER_REMOVED">): Unsubscribe;
  onUserPresence(callback: Handler<"USER_PRESENCE">): Unsubscribe;
  onUserTyping(callback: Handler<"USER_TYPING">): Unsubscribe;
  onCursorPosition(callback: Handler<"CURSOR_POSITION">): Unsubscribe;
  onPresenceState(callback: Handler<"PRESENCE_STATE">): Unsubscribe;
  onSyncResponse(callback: Handler<"SYNC_RESPONSE">): Unsubscribe;
  onError(callback: Handler<"ERROR">): Unsubscribe;

  /** Remembered per workspace and sent again after every reconnect; false when not sent now. */
  updatePresence(workspaceId: string, status: PresenceStatus): boolean;
  /** False when not connected (not queued). */
  setTyping(workspaceId: string, taskId: string, isTyping: boolean): boolean;
  /** At most 20 a second leave the client; the latest call within a window wins. */
  sendCursor(workspaceId: string, taskId: string | null | undefined, position: Record<string, unknown>): boolean;
  /** SYNC_REQUEST from the last seq seen, through every page; events go through their handlers. */
  sync(workspaceId: string, options?: SyncOptions): Promise<SyncResult>;
}

/** The header asking the server for the refresh token in an HttpOnly cookie (`X-Taskroom-Refresh: cookie`). */
export declare const REFRESH_COOKIE_HEADER: string;
/** The REST base (`…/api/v1`) of a server's http(s) base URL. */
export declare function toApiUrl(url: string, base?: string): string;

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  createdAt?: string;
  [key: string]: unknown;
}

export interface SessionOptions {
  /** The server's http(s) base (default: the page's origin). */
  url?: string;
  /**
   * `"cookie"` (default on a page of the server's origin): an HttpOnly cookie holds the refresh token, renewals
   * of every tab are serialized with navigator.locks and sign-outs told with a BroadcastChannel.
   * `"memory"` (default elsewhere): this object holds it.
   */
  refreshTokenIn?: "cookie" | "memory";
  /** Memory mode: a refresh token to start from (resume() spends it). */
  refreshToken?: string;
  /** Renew this long before expiry, at most halfway through the token's life (default 30000). */
  refreshMarginMs?: number;
  fetch?: typeof fetch;
  /** Runs a renewal under a lock shared by the tabs (default: navigator.locks in cookie mode); null: none. */
  lock?: ((name: string, task: () => Promise<unknown>) => Promise<unknown>) | null;
  /** BroadcastChannel name shared by the tabs (default in cookie mode: one per server); null: none. */
  channel?: string | null;
}

export interface SessionEnded {
  /** `"signed-out"`: logout() here or in another tab; `"ended"`: the server refused the renewal. */
  reason: "signed-out" | "ended";
  error?: unknown;
}

/** A session error carries the HTTP status (0: no answer) and the server's error code. */
export interface SessionError extends TaskroomClientError {
  readonly status: number;
}

/**
 * The tokens of one sign-in (PROTOCOL.md §5.1): the access token lives in memory only and is renewed before
 * expiry; `tokenProvider` feeds a TodoWebSocketClient; `onEnded` says when the app must show its sign-in page.
 */
export declare class TaskroomSession {
  constructor(options?: SessionOptions);
  readonly refreshTokenIn: "cookie" | "memory";
  readonly apiUrl: string;
  readonly accessToken: string | null;
  readonly user: SessionUser | null;
  readonly signedIn: boolean;
  /** For `new TodoWebSocketClient({ token: session.tokenProvider })`: renews when told of a refusal. */
  readonly tokenProvider: TokenProvider;
  login(credentials: { email: string; password: string }): Promise<SessionUser>;
  register(account: { email: string; password: string; name: string }): Promise<SessionUser>;
  /** Picks up an existing session (the cookie, or the `refreshToken` option); null when there is none. */
  resume(): Promise<SessionUser | null>;
  /** Renews now (one renewal at a time, across tabs in cookie mode); rejects with TokenUnavailableError when the session is over. */
  refresh(): Promise<string>;
  /** The access token to use now (renewed first when about to expire); TokenUnavailableError when signed out. */
  getToken(): Promise<string>;
  /** The server refused `token`: renew, unless a newer one is already in hand. */
  tokenRefused(token: string): Promise<void>;
  /** Ends the session on the server and in every tab. Never rejects. */
  logout(): Promise<void>;
  onEnded(callback: (detail: SessionEnded) => void): Unsubscribe;
  /** On every sign-in: login, register, resume, or (cookie mode) another tab's. */
  onSignedIn(callback: (user: SessionUser) => void): Unsubscribe;
  /** Stops the renewal timer and the channel (the server's session stays). */
  close(): void;
}

export default TodoWebSocketClient;
