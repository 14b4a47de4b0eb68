// Type declarations of the Taskroom offline-first store (store.js, served beside this file; re-exported by
// taskroom.js). The contract is PROTOCOL.md §6; docs/clients.md, "The offline store", describes the behaviour.

import type { Column, Member, Task, TaskStatus, Priority, TokenProvider, Unsubscribe, Workspace, ReconnectPolicy, TodoWebSocketClient } from "./taskroom.js";

export type StoreStatus = "idle" | "sending" | "waiting" | "unauthorized" | "closed";
export type MutationKind = "create" | "update" | "move" | "complete" | "delete";

/** What the store persists through: JSON records by string key. Each method may return a promise. */
export interface StorageAdapter {
  get(key: string): unknown | undefined | Promise<unknown | undefined>;
  put(key: string, value: unknown): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

export declare class MemoryStorage implements StorageAdapter {
  get(key: string): unknown | undefined;
  put(key: string, value: unknown): void;
  delete(key: string): void;
}

export declare class IndexedDBStorage implements StorageAdapter {
  constructor(name?: string);
  get(key: string): Promise<unknown | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

/** A waiting mutation, as the app sees it. */
export interface PendingMutation {
  id: string;
  kind: MutationKind;
  workspaceId: string;
  /** The server's id, or the temporary `local-…` id of a task still waiting to be created. */
  taskId: string;
  fields: Record<string, unknown>;
  baseVersion: number | null;
  idempotencyKey: string;
  createdAt: string;
  attempts: number;
}

/** A task in the replica: `pending` while a mutation of it waits. */
export interface ReplicaTask extends Readonly<Task> {
  readonly pending?: true;
}

export interface View<T> {
  readonly current: T;
  subscribe(callback: (current: T) => void): Unsubscribe;
}

export interface Change {
  workspaceId: string;
  reason: string;
}

export interface SyncReport {
  workspaceId: string;
  kind: "copy" | "events" | "snapshot";
  /** For a snapshot: "no copy", "gone" (the log answered 410) or "too far behind". */
  reason?: string;
  events?: number;
  latestSeq: number;
}

export type ConflictChoice = "mine" | "theirs";

export interface StoreOptions {
  /** The server's http(s) base. */
  url: string;
  token: string | TokenProvider;
  /** Default "indexeddb" where IndexedDB exists, else "memory". */
  persist?: "indexeddb" | "memory";
  /** A persistence adapter of one's own (overrides `persist`). */
  storage?: StorageAdapter;
  /** Prefix of the persisted keys (e.g. the user's id); default "taskroom". */
  namespace?: string;
  /** A client to take live events from; default: the store's own, disconnected by close(). */
  client?: TodoWebSocketClient;
  fetch?: typeof fetch;
  WebSocket?: new (url: string) => unknown;
  reconnect?: Partial<ReconnectPolicy>;
  /** The outbox's back-off between sends to an unreachable server. */
  retry?: Partial<Pick<ReconnectPolicy, "floorMs" | "baseMs" | "capMs">>;
  /** More events behind than this: the snapshot is read instead (default 5000). */
  maxReplay?: number;
  /** Events asked for per request (default 500). */
  pageLimit?: number;
  /** A request unanswered this long is a network error, retried (default 30000). */
  requestTimeoutMs?: number;
  /** A 409: "mine" sends the change again on the current version, "theirs" drops it (the default). */
  onConflict?: (mine: PendingMutation, current: Task) => ConflictChoice | Promise<ConflictChoice>;
  /** A mutation the server refused (a 4xx other than 409): already rolled back. */
  onRefused?: (mutation: PendingMutation, error: TaskroomStoreError) => void;
}

export interface CreateTaskFields {
  title: string;
  description?: string;
  /** A column of the workspace; without it, the first column that is not done. In a done column it is created completed. */
  status?: TaskStatus;
  assigneeId?: string | null;
  dueDate?: string | null;
  priority?: Priority;
  /** Up to 20, each 1–40 characters; the server trims them and drops duplicates. */
  labels?: string[];
}

export type UpdateTaskFields = Partial<
  Pick<Task, "title" | "description" | "assigneeId" | "dueDate" | "priority" | "labels">
>;

export interface MoveTarget {
  /** A column of the task's workspace; the task is completed exactly when that column is done. */
  status: TaskStatus;
  beforeId?: string | null;
  afterId?: string | null;
}

export declare class Replica {
  readonly workspaceId: string;
  readonly synced: Promise<void>;
  readonly workspace: Workspace | null;
  readonly members: Member[];
  readonly tasks: ReplicaTask[];
  readonly latestSeq: number;
  /** The workspace's columns in board order (from the snapshot and WORKSPACE_UPDATED). */
  readonly columns: readonly Column[];
  /** Throws a TypeError for a key that is not one of `columns`. */
  column(status: TaskStatus): View<readonly ReplicaTask[]>;
  task(id: string): View<ReplicaTask | undefined>;
  subscribe(callback: (change: Change) => void): Unsubscribe;
}

export declare class TaskroomStoreError extends Error {
  readonly code: string;
  readonly status?: number;
  readonly body?: unknown;
}

export declare const STORE_STATUSES: readonly StoreStatus[];
/** The columns of a workspace that never set its own; a replica follows its workspace's `columns`. */
export declare const DEFAULT_COLUMNS: readonly Readonly<Column>[];
/** The keys of DEFAULT_COLUMNS. */
export declare const COLUMNS: readonly TaskStatus[];
export declare function positionBetween(low: string | null, high: string | null): string;

export declare class TaskroomStore {
  constructor(options: StoreOptions);
  readonly status: StoreStatus;
  readonly pending: PendingMutation[];
  readonly pendingCount: number;
  readonly client: TodoWebSocketClient | null;
  open(workspaceId: string): Promise<Replica>;
  workspace(workspaceId: string): Workspace | null;
  members(workspaceId: string): Member[];
  tasks(workspaceId: string): ReplicaTask[];
  latestSeq(workspaceId: string): number;
  /** The workspace's columns in board order; the defaults while its replica does not know them. */
  columns(workspaceId: string): readonly Column[];
  task(id: string): View<ReplicaTask | undefined>;
  /** Throws a TypeError for a key that is not a column of the open workspace. */
  column(workspaceId: string, status: TaskStatus): View<readonly ReplicaTask[]>;
  subscribe(callback: (change: Change) => void): Unsubscribe;
  onPendingChange(callback: (pending: PendingMutation[]) => void): Unsubscribe;
  onStatusChange(callback: (status: StoreStatus, detail: { error?: Error; delayMs?: number; attempt?: number }) => void): Unsubscribe;
  onSync(callback: (report: SyncReport) => void): Unsubscribe;
  createTask(workspaceId: string, fields: CreateTaskFields): Promise<ReplicaTask>;
  updateTask(taskId: string, fields: UpdateTaskFields): Promise<ReplicaTask | undefined>;
  moveTask(taskId: string, target: MoveTarget): Promise<ReplicaTask | undefined>;
  /** Moves the task to the end of the first done column (completed) or of the first open one (not). */
  completeTask(taskId: string, completed?: boolean): Promise<ReplicaTask | undefined>;
  deleteTask(taskId: string): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export default TaskroomStore;
