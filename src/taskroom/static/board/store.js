// The state of the open board: tasks, members, presence, who types where, others' cursors.
// Everything that changes it (REST answers, live events, a reload after a reconnect) goes through
// here, and the page re-renders from it. A task is replaced only by the same or a newer version,
// and a deleted task is not brought back by an older copy, so answers and events may arrive in
// any order.

// The columns of a workspace that never set its own (PROTOCOL §7). The board draws the workspace's
// `columns`, which an admin may change at any time (WORKSPACE_UPDATED).
export const DEFAULT_COLUMNS = [
  { key: "todo", name: "To do", done: false },
  { key: "in_progress", name: "In progress", done: false },
  { key: "done", name: "Done", done: true },
];

const TYPING_FALLBACK_MS = 6000; // the server ends typing after 5 s; this covers a lost "stopped"
const CURSOR_IDLE_MS = 10000;

// Positions are compared byte by byte (PROTOCOL §2); the keys are ASCII, so code-unit order is the same.
const byPosition = (a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : a.id < b.id ? -1 : 1);

export class BoardStore {
  constructor(workspace) {
    this.workspace = workspace;
    this.tasks = new Map();
    this.deleted = new Set();
    this.members = new Map();
    this.presence = new Map(); // userId -> {status, lastSeen}
    this.typing = new Map(); // taskId -> Map(userId -> timer)
    this.cursors = new Map(); // userId -> {x, y, taskId, timer}
    this.lastActor = new Map(); // taskId -> userId of the last change seen live
    this.touches = new Map(); // taskId -> change counter at its last live change
    this.counter = 0;
    this.listeners = new Set();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(what) {
    for (const listener of this.listeners) listener(what);
  }

  // --- the workspace and its columns -------------------------------------------------------------

  get columns() {
    const columns = this.workspace.columns;
    return Array.isArray(columns) && columns.length > 0 ? columns : DEFAULT_COLUMNS;
  }

  columnName(key) {
    const column = this.columns.find((c) => c.key === key);
    return column ? column.name : key;
  }

  // The workspace as a WORKSPACE_UPDATED or a reload gives it (without the viewer's role, which stays).
  putWorkspace(workspace) {
    const before = JSON.stringify(this.columns);
    this.workspace = { ...this.workspace, ...workspace, role: this.workspace.role };
    if (JSON.stringify(this.columns) !== before) this.changed("columns");
  }

  // --- tasks -----------------------------------------------------------------------------------

  // A mark taken before a full list is requested: see loadTasks.
  mark() {
    return this.counter;
  }

  // A full list read from the server, page after page. A task missing from it was deleted, unless
  // it changed after `mark` (created, or moved past the pages being read, while the list was on
  // its way: its live event touched it).
  loadTasks(tasks, mark) {
    const seen = new Set();
    for (const task of tasks) {
      seen.add(task.id);
      this.putTask(task, { silent: true });
    }
    for (const id of [...this.tasks.keys()]) {
      if (!seen.has(id) && (this.touches.get(id) ?? -1) <= mark) this.dropTask(id, { silent: true });
    }
    this.changed("tasks");
  }

  putTask(task, { silent = false } = {}) {
    if (task.workspaceId !== this.workspace.id || this.deleted.has(task.id)) return false;
    const known = this.tasks.get(task.id);
    if (known && known.version > task.version) return false;
    this.tasks.set(task.id, task);
    this.touches.set(task.id, ++this.counter);
    if (!silent) this.changed("tasks");
    return true;
  }

  dropTask(taskId, { silent = false } = {}) {
    this.deleted.add(taskId);
    this.touches.set(taskId, ++this.counter);
    const had = this.tasks.delete(taskId);
    this.typing.delete(taskId);
    if (!silent) this.changed("tasks");
    return had;
  }

  column(status) {
    return [...this.tasks.values()].filter((t) => t.status === status).sort(byPosition);
  }

  // --- people ----------------------------------------------------------------------------------

  loadMembers(members) {
    this.members = new Map(members.map((m) => [m.userId, m]));
    this.changed("members");
  }

  putMember(member) {
    this.members.set(member.userId, member);
    this.changed("members");
  }

  dropMember(userId) {
    this.members.delete(userId);
    this.presence.delete(userId);
    this.changed("members");
  }

  nameOf(userId) {
    const member = this.members.get(userId);
    return member ? member.name : "Someone";
  }

  loadPresence(users) {
    this.presence = new Map(users.map((u) => [u.userId, u]));
    this.changed("presence");
  }

  putPresence(entry) {
    if (entry.status === "offline") {
      this.presence.delete(entry.userId);
      this.clearCursor(entry.userId);
      for (const taskId of [...this.typing.keys()]) this.setTyping(taskId, entry.userId, false);
    } else {
      this.presence.set(entry.userId, entry);
    }
    this.changed("presence");
  }

  setTyping(taskId, userId, isTyping) {
    const typists = this.typing.get(taskId) || new Map();
    clearTimeout(typists.get(userId));
    if (isTyping) {
      typists.set(userId, setTimeout(() => this.setTyping(taskId, userId, false), TYPING_FALLBACK_MS));
      this.typing.set(taskId, typists);
    } else {
      typists.delete(userId);
      if (!typists.size) this.typing.delete(taskId);
    }
    this.changed("typing");
  }

  typistsOf(taskId) {
    return [...(this.typing.get(taskId) || new Map()).keys()].map((id) => this.nameOf(id));
  }

  putCursor(userId, taskId, position) {
    const x = Number(position && position.x);
    const y = Number(position && position.y);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const known = this.cursors.get(userId);
    if (known) clearTimeout(known.timer);
    const timer = setTimeout(() => this.clearCursor(userId), CURSOR_IDLE_MS);
    this.cursors.set(userId, { x, y, taskId, timer });
    this.changed("cursors");
  }

  clearCursor(userId) {
    const known = this.cursors.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    this.cursors.delete(userId);
    this.changed("cursors");
  }

  dispose() {
    for (const typists of this.typing.values()) for (const timer of typists.values()) clearTimeout(timer);
    for (const cursor of this.cursors.values()) clearTimeout(cursor.timer);
    this.listeners.clear();
  }
}

// Where a task lands when dropped at `index` of column `status` (the others of that column, top to
// bottom, without the task itself): the neighbours PROTOCOL §2's move takes.
export function neighboursAt(store, taskId, status, index) {
  const others = store.column(status).filter((t) => t.id !== taskId);
  const clamped = Math.max(0, Math.min(index, others.length));
  return {
    beforeId: clamped > 0 ? others[clamped - 1].id : null,
    afterId: clamped < others.length ? others[clamped].id : null,
  };
}
