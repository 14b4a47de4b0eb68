// The board page: signing in, the workspaces, and the open board kept live by the WebSocket client.
// Every change, this user's or anyone else's, lands in the store first and the page re-renders from it.

import TodoWebSocketClient from "./client/taskroom.js";
import { Api, ApiError, NetworkError } from "./api.js";
import { BoardView } from "./board-view.js";
import { CursorSender, renderCursors, renderPresence, TypingSignal } from "./collab.js";
import { TaskEditor } from "./editing.js";
import { acceptProblem, inviteTokenOf, renderInvitations, showLink } from "./invitations.js";
import { createSession } from "./session.js";
import { BoardStore, neighboursAt } from "./store.js";

const $ = (id) => document.getElementById(id);
const ROLE_RANK = { viewer: 0, member: 1, admin: 2, owner: 3 };

const auth = createSession();
// The signed-in user and the access token in force ({user, token}), or null when signed out.
let session = null;
let client = null;
let board = null; // the open board: {workspace, store, view, cursors, dispose()}
let wasOpen = false; // the live connection has been open before (so "open" again is a recovery)
let myStatus = "online";
const workspaces = new Map();
const presenceByWorkspace = new Map(); // workspaceId -> Map(userId -> entry), kept for every room

const SESSION_ENDED = "Your session has ended. Please sign in again.";

const api = new Api(
  () => (auth.signedIn ? auth.getToken() : null),
  async (token) => {
    await auth.tokenRefused(token);
    return auth.signedIn && auth.accessToken !== token;
  },
);

// --- messages to the user -------------------------------------------------------------------------

let errorTimer = null;
function showError(text) {
  const banner = $("error");
  banner.textContent = text;
  banner.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (banner.hidden = true), 8000);
}

function explain(error) {
  if (error instanceof ApiError && error.status === 429) return "Too many attempts. Please wait a moment.";
  return error.message || "Something went wrong.";
}

function announce(text) {
  const live = $("live");
  live.textContent = "";
  // A fresh node each time, so the same words twice are read twice.
  requestAnimationFrame(() => (live.textContent = text));
}

function quoted(title) {
  return `“${title}”`;
}

// --- views ------------------------------------------------------------------------------------------

function showView(name) {
  const changed = $(`${name}-view`).hidden;
  for (const view of ["auth", "home", "board"]) $(`${view}-view`).hidden = view !== name;
  $("account").hidden = name === "auth";
  // A screen reader hears where it landed; the next Tab starts from the new view.
  if (changed && document.activeElement !== document.body) $(`${name}-view`).querySelector("h1").focus();
}

function route() {
  const invitation = inviteTokenOf(location.hash);
  $("invite-notice").hidden = !invitation;
  if (!session) {
    closeBoard();
    showView("auth");
    return;
  }
  if (invitation) {
    acceptInvitation(invitation);
    return;
  }
  const match = location.hash.match(/^#\/w\/([^/]+)$/);
  if (match) openBoard(decodeURIComponent(match[1]));
  else {
    closeBoard();
    showView("home");
    renderWorkspaces();
  }
}

// --- signing in and out -------------------------------------------------------------------------

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// Every sign-in comes here: the forms, the cookie's session picked up on load, another tab's sign-in.
async function enter(user) {
  if (session) return;
  session = {
    user,
    get token() {
      return auth.accessToken;
    },
  };
  $("me-name").textContent = user.name;
  startLive();
  await loadWorkspaces();
  route();
}

let signingOut = false; // this tab's own sign-out: no message

// The session is over: signed out here or in another tab, or its renewal was refused (ended elsewhere,
// account deleted). The access token is gone from memory; the sign-in page says why.
auth.onEnded(({ reason }) => {
  if (signingOut) signOut();
  else signOut(reason === "ended" ? SESSION_ENDED : "You signed out in another tab.");
});
auth.onSignedIn((user) => enter(user));

function signOut(message) {
  if (client) client.disconnect();
  client = null;
  wasOpen = false;
  session = null;
  workspaces.clear();
  presenceByWorkspace.clear();
  setBanner(null);
  if (message) showError(message);
  if (location.hash) location.hash = "";
  route();
}

function bindAuthForms() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { email, password } = formValues(event.target);
    try {
      await auth.login({ email: email.trim(), password });
      event.target.reset();
    } catch (error) {
      showError(error.status === 401 ? "Wrong email or password." : explain(error));
    }
  });
  $("sign-up-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { name, email, password } = formValues(event.target);
    if (password.length < 8) {
      showError("Choose a password of 8 characters or more.");
      return;
    }
    try {
      await auth.register({ name: name.trim(), email: email.trim(), password });
      event.target.reset();
    } catch (error) {
      if (error.status === 409) showError("An account with this email exists already: sign in instead.");
      else if (error.status === 422) showError("Please check the name and email.");
      else showError(explain(error));
    }
  });
  $("sign-out").addEventListener("click", async () => {
    signingOut = true;
    try {
      await auth.logout(); // every tab is told; onEnded shows the sign-in page
    } finally {
      signingOut = false;
    }
    if (session) signOut();
  });
}

// --- invitations ----------------------------------------------------------------------------------

let accepting = null; // the token being accepted, so that two routes do not send it twice

// `#/invite/{token}` once signed in (or signed up): join, then open the workspace. The link is
// replaced in the history, so Back does not present a used token again.
async function acceptInvitation(token) {
  if (accepting === token) return;
  accepting = token;
  closeBoard();
  try {
    const { workspace } = await api.acceptInvitation(token);
    workspaces.set(workspace.id, workspace);
    renderWorkspaces();
    announce(`You joined ${workspace.name}.`);
    location.replace(`#/w/${encodeURIComponent(workspace.id)}`);
  } catch (error) {
    if (!session) return; // a 401 signed out already
    showError(error instanceof ApiError ? acceptProblem(error) : explain(error));
    location.replace("#/");
  } finally {
    accepting = null;
  }
}

// The pending invitations of the open board, for its admins.
async function loadInvitations(current) {
  const list = $("invitation-list");
  if (ROLE_RANK[current.workspace.role] < ROLE_RANK.admin) {
    list.hidden = $("pending-title").hidden = true;
    return;
  }
  try {
    const { items } = await api.listInvitations(current.workspace.id);
    if (board !== current) return;
    renderInvitations(list, items, withdraw);
    $("pending-title").hidden = items.length === 0;
  } catch (error) {
    showError(explain(error));
  }
}

async function withdraw(invitation) {
  const current = board;
  if (!current) return;
  try {
    await api.revokeInvitation(current.workspace.id, invitation.id);
    announce(`The invitation for ${invitation.email} was withdrawn.`);
  } catch (error) {
    if (error.status !== 404) showError(explain(error)); // 404: withdrawn or used meanwhile
  }
  $("invite-link-box").hidden = true;
  await loadInvitations(current);
}

async function createInviteLink(current, email, role) {
  const created = await api.createInvitation(current.workspace.id, email, role);
  if (board !== current) return;
  showLink($("invite-link-box"), created.email, created.token);
  $("invite-email").value = "";
  announce(`An invitation link for ${created.email} is ready to copy.`);
  await loadInvitations(current);
}

// --- workspaces -----------------------------------------------------------------------------------

async function loadWorkspaces() {
  try {
    const { items } = await api.listWorkspaces();
    workspaces.clear();
    for (const workspace of items) workspaces.set(workspace.id, workspace);
  } catch (error) {
    showError(explain(error));
  }
  renderWorkspaces();
}

function renderWorkspaces() {
  const list = $("workspace-list");
  const sorted = [...workspaces.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((workspace) => {
      const link = document.createElement("a");
      link.href = `#/w/${encodeURIComponent(workspace.id)}`;
      link.textContent = workspace.name;
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = workspace.role;
      const item = document.createElement("li");
      item.append(link, " ", role);
      return item;
    }),
  );
  $("no-workspaces").hidden = sorted.length > 0;
}

function bindWorkspaceForm() {
  $("workspace-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("workspace-name").value.trim();
    if (!name) return;
    try {
      const workspace = await api.createWorkspace(name);
      workspaces.set(workspace.id, workspace);
      event.target.reset();
      location.hash = `#/w/${encodeURIComponent(workspace.id)}`;
    } catch (error) {
      showError(explain(error));
    }
  });
}

// --- the open board -------------------------------------------------------------------------------

const editor = new TaskEditor({
  api,
  get store() {
    return board.store;
  },
  get typing() {
    return board.typing;
  },
  get session() {
    return session;
  },
  get canWrite() {
    return ROLE_RANK[board.workspace.role] >= ROLE_RANK.member;
  },
  announce,
  showError,
});

let opening = null; // the id of the board being opened, so that two routes do not open it twice

async function openBoard(workspaceId) {
  if ((board && board.workspace.id === workspaceId) || opening === workspaceId) return;
  closeBoard();
  opening = workspaceId;
  let workspace;
  try {
    workspace = await api.getWorkspace(workspaceId);
  } catch (error) {
    if (error instanceof NetworkError) {
      showError(explain(error)); // the board opens when the connection is back
      return;
    }
    showError(error.status === 404 ? "That workspace does not exist or you are not a member." : explain(error));
    location.hash = "#/";
    return;
  } finally {
    if (opening === workspaceId) opening = null;
  }
  if (location.hash !== `#/w/${encodeURIComponent(workspaceId)}`) return; // the user went elsewhere meanwhile
  if (board) closeBoard();
  const store = new BoardStore(workspace);
  const canWrite = ROLE_RANK[workspace.role] >= ROLE_RANK.member;
  const boardElement = $("board");
  const view = new BoardView(boardElement, store, { move, edit, toggle, remove }, { canWrite });
  const cursors = new CursorSender(boardElement, (taskId, position) => {
    if (client) client.sendCursor(workspaceId, taskId, position);
  });
  const typing = new TypingSignal((taskId, isTyping) => {
    if (client) client.setTyping(workspaceId, taskId, isTyping);
  });
  const unsubscribe = store.subscribe((what) => {
    if (what === "tasks" || what === "typing" || what === "columns") view.render();
    if (what === "columns") renderColumnPicker(store);
    if (what === "typing") editor.showTypists();
    if (what === "members" || what === "presence") {
      renderMembers(store);
      renderPresence($("presence"), store, session.user.id);
    }
    if (what === "cursors" || what === "members") renderCursors($("cursor-layer"), store);
  });
  board = {
    workspace,
    store,
    view,
    typing,
    dispose() {
      unsubscribe();
      view.dispose();
      cursors.dispose();
      typing.stop();
      store.dispose();
      $("cursor-layer").replaceChildren();
    },
  };
  $("board-title").textContent = workspace.name;
  renderColumnPicker(store);
  $("task-form").hidden = !canWrite;
  $("move-help").textContent = canWrite
    ? "Drag cards between columns, or focus a card and press Alt+arrow keys to move it."
    : "You are a viewer here: the board is read-only.";
  $("invite-form").hidden = ROLE_RANK[workspace.role] < ROLE_RANK.admin;
  $("invite-link-box").hidden = true;
  showView("board");
  await reloadBoard();
  const presence = presenceByWorkspace.get(workspaceId);
  if (presence) store.loadPresence([...presence.values()]);
  sendStatus();
}

function closeBoard() {
  if (!board) return;
  editor.reset();
  board.dispose();
  board = null;
}

// The whole board from REST: on opening, and when the live connection comes back (whatever the
// resume replayed, this also covers a history past retention).
async function reloadBoard() {
  const current = board;
  if (!current) return;
  const mark = current.store.mark();
  try {
    // The workspace too: its columns may have changed while the connection was down.
    const [workspace, tasks, members] = await Promise.all([
      api.getWorkspace(current.workspace.id),
      api.listTasks(current.workspace.id),
      api.listMembers(current.workspace.id),
    ]);
    if (board !== current) return;
    current.store.putWorkspace(workspace);
    current.store.loadMembers(members.items);
    current.store.loadTasks(tasks.items, mark);
    loadInvitations(current);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) leaveBoard("You no longer have access to that workspace.");
    else showError(explain(error));
  }
}

// The new-task form's column picker: the workspace's columns; the first open one unless another was chosen.
function renderColumnPicker(store) {
  const select = $("task-column");
  const chosen = select.value;
  select.replaceChildren(
    ...store.columns.map((column) => {
      const option = document.createElement("option");
      option.value = column.key;
      option.textContent = column.name;
      return option;
    }),
  );
  const open = store.columns.find((column) => !column.done) || store.columns[0];
  select.value = store.columns.some((column) => column.key === chosen) ? chosen : open.key;
}

function leaveBoard(message) {
  closeBoard();
  if (message) showError(message);
  location.hash = "#/";
}

function renderMembers(store) {
  const members = [...store.members.values()].sort((a, b) => a.name.localeCompare(b.name));
  $("member-count").textContent = `(${members.length})`;
  $("member-list").replaceChildren(
    ...members.map((member) => {
      const item = document.createElement("li");
      item.textContent = `${member.name} · ${member.email} · ${member.role}`;
      return item;
    }),
  );
}

function bindBoardForms() {
  $("task-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!board) return;
    const title = $("task-title").value.trim();
    if (!title) {
      showError("A task needs a title.");
      return;
    }
    try {
      const task = await api.createTask(board.workspace.id, title, $("task-column").value);
      board.store.putTask(task);
      $("task-title").value = "";
      $("task-title").focus();
    } catch (error) {
      showError(explain(error));
    }
  });
  $("invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = board;
    if (!current) return;
    const email = $("invite-email").value.trim();
    const role = $("invite-role").value;
    const linkOnly = event.submitter && event.submitter.value === "link";
    try {
      if (linkOnly) {
        await createInviteLink(current, email, role);
        return;
      }
      const member = await api.invite(current.workspace.id, email, role);
      current.store.putMember(member);
      $("invite-email").value = "";
      announce(`${member.name} was added as ${member.role}.`);
    } catch (error) {
      // No account uses this address (yet): the invitation link is how they join.
      if (error.status === 404 && !linkOnly) await createInviteLink(current, email, role).catch(inviteFailed(email));
      else inviteFailed(email)(error);
    }
  });
  $("invite-link-copy").addEventListener("click", async () => {
    const field = $("invite-link");
    try {
      await navigator.clipboard.writeText(field.value);
      announce("Link copied.");
    } catch {
      field.select(); // no clipboard access (an insecure origin): selected for Ctrl+C
    }
  });
}

function inviteFailed(email) {
  return (error) => {
    if (error.status === 409) showError(`${email} is a member already.`);
    else if (error.status === 422) showError("Please check the email address.");
    else showError(explain(error));
  };
}

// --- card actions (called by the board view) ------------------------------------------------------

async function move(taskId, status, index) {
  const store = board.store;
  const task = store.tasks.get(taskId);
  if (!task) return;
  const target = neighboursAt(store, taskId, status, index);
  const here = store.column(task.status).findIndex((t) => t.id === taskId);
  const now = neighboursAt(store, taskId, task.status, here);
  if (status === task.status && target.beforeId === now.beforeId && target.afterId === now.afterId) return;
  try {
    const moved = await api.moveTask(taskId, status, target.beforeId, target.afterId);
    store.putTask(moved);
    const column = store.column(moved.status);
    const position = column.findIndex((t) => t.id === taskId) + 1;
    announce(`Moved ${quoted(moved.title)} to ${store.columnName(moved.status)}, position ${position} of ${column.length}.`);
  } catch (error) {
    showError(error.status === 422 ? "The board changed meanwhile; try that move again." : explain(error));
    reloadBoard();
  }
}

function edit(taskId) {
  const task = board.store.tasks.get(taskId);
  if (task) editor.open(task);
}

async function toggle(taskId, completed) {
  try {
    board.store.putTask(await api.completeTask(taskId, completed));
  } catch (error) {
    showError(explain(error));
    board.view.render(); // put the checkbox back
  }
}

async function remove(taskId) {
  const task = board.store.tasks.get(taskId);
  try {
    await api.deleteTask(taskId);
    board.store.dropTask(taskId);
    if (task) announce(`Deleted ${quoted(task.title)}.`);
  } catch (error) {
    if (error.status === 404) board.store.dropTask(taskId);
    else showError(explain(error));
  }
}

// --- the live connection --------------------------------------------------------------------------

function websocketUrl() {
  const url = new URL("api/v1/ws", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// onTaskCreated for TASK_CREATED, and so on (PROTOCOL §4).
function listen(type, handler) {
  const name = "on" + type.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
  if (typeof client[name] === "function") client[name](handler);
  else if (typeof client.on === "function") client.on(type, handler);
}

function startLive() {
  if (client) client.disconnect();
  wasOpen = false;
  client = new TodoWebSocketClient({ url: websocketUrl(), token: auth.tokenProvider });
  const current = client;
  client.onStateChange((state) => current === client && connectionChanged(state));
  const taskTypes = ["TASK_CREATED", "TASK_UPDATED", "TASK_COMPLETED", "TASK_MOVED", "TASK_DELETED", "TASK_RESTORED"];
  for (const type of taskTypes) {
    listen(type, (data) => taskEvent(type, data));
  }
  listen("WORKSPACE_CREATED", (data) => {
    workspaces.set(data.workspace.id, { ...data.workspace, role: "owner" });
    renderWorkspaces();
  });
  listen("WORKSPACE_UPDATED", (data) => {
    const known = workspaces.get(data.workspaceId);
    if (known) workspaces.set(data.workspaceId, { ...known, ...data.workspace, role: known.role });
    renderWorkspaces();
    if (board && board.workspace.id === data.workspaceId) {
      $("board-title").textContent = data.workspace.name;
      board.store.putWorkspace(data.workspace); // its columns, drawn anew when they changed
    }
  });
  listen("WORKSPACE_DELETED", (data) => {
    workspaces.delete(data.workspaceId);
    renderWorkspaces();
    if (board && board.workspace.id === data.workspaceId) leaveBoard("This workspace was deleted.");
  });
  listen("WORKSPACE_MEMBER_ADDED", (data) => {
    if (data.member.userId === session.user.id) loadWorkspaces();
    else if (board && board.workspace.id === data.workspaceId) {
      board.store.putMember(data.member);
      // Someone may have joined by an invitation: it is no longer pending, its link no longer to send.
      if ($("invite-link-for").textContent === data.member.email) $("invite-link-box").hidden = true;
      loadInvitations(board);
    }
  });
  listen("WORKSPACE_MEMBER_UPDATED", (data) => {
    if (board && board.workspace.id === data.workspaceId) board.store.putMember(data.member);
  });
  listen("WORKSPACE_MEMBER_REMOVED", (data) => {
    if (data.userId === session.user.id) {
      workspaces.delete(data.workspaceId);
      renderWorkspaces();
      if (board && board.workspace.id === data.workspaceId) leaveBoard("You were removed from this workspace.");
    } else if (board && board.workspace.id === data.workspaceId) board.store.dropMember(data.userId);
  });
  listen("PRESENCE_STATE", (data) => {
    presenceByWorkspace.set(data.workspaceId, new Map(data.users.map((u) => [u.userId, u])));
    if (board && board.workspace.id === data.workspaceId) board.store.loadPresence(data.users);
  });
  listen("USER_PRESENCE", (data) => {
    const known = presenceByWorkspace.get(data.workspaceId) || new Map();
    if (data.status === "offline") known.delete(data.userId);
    else known.set(data.userId, data);
    presenceByWorkspace.set(data.workspaceId, known);
    if (board && board.workspace.id === data.workspaceId) board.store.putPresence(data);
  });
  listen("USER_TYPING", (data) => {
    if (board && board.workspace.id === data.workspaceId && data.userId !== session.user.id) {
      board.store.setTyping(data.taskId, data.userId, data.isTyping);
    }
  });
  listen("CURSOR_POSITION", (data) => {
    if (board && board.workspace.id === data.workspaceId && data.userId !== session.user.id) {
      board.store.putCursor(data.userId, data.taskId, data.position);
    }
  });
  // The client reconnects by itself; a first attempt that fails shows up as its state.
  client.connect().catch(() => {});
}

function taskEvent(type, data) {
  if (!board || board.workspace.id !== data.workspaceId) return;
  const store = board.store;
  const known = type === "TASK_DELETED" ? store.tasks.get(data.taskId) : null;
  const applied = type === "TASK_DELETED" ? store.dropTask(data.taskId) : store.putTask(data.task);
  const taskId = type === "TASK_DELETED" ? data.taskId : data.task.id;
  store.lastActor.set(taskId, data.actorId);
  if (!applied || data.actorId === session.user.id) return;
  const who = store.nameOf(data.actorId);
  const title = quoted(type === "TASK_DELETED" ? (known ? known.title : "a task") : data.task.title);
  const words = {
    TASK_CREATED: () => `${who} added ${title} to ${store.columnName(data.task.status)}.`,
    TASK_UPDATED: () => `${who} edited ${title}.`,
    TASK_COMPLETED: () => `${who} marked ${title} as ${data.task.completed ? "completed" : "not completed"}.`,
    TASK_MOVED: () => `${who} moved ${title} to ${store.columnName(data.task.status)}.`,
    TASK_DELETED: () => `${who} deleted ${title}.`,
    TASK_RESTORED: () => `${who} restored ${title} to ${columnLabel(data.task.status)}.`,
  };
  announce(words[type]());
}

function setBanner(text) {
  const banner = $("connection-banner");
  banner.textContent = text || "";
  banner.hidden = !text;
}

function connectionChanged(state) {
  if (state === "open") {
    setBanner(null);
    const recovered = wasOpen;
    wasOpen = true;
    // A new connection counts as online in every room; only another status needs saying.
    if (board && currentStatus() !== "online") sendStatus();
    if (recovered) {
      loadWorkspaces();
      reloadBoard();
    }
    // A board that could not open while the server was unreachable opens now.
    if (!board && location.hash.startsWith("#/w/")) route();
  } else if (state === "reconnecting" || (state === "connecting" && wasOpen)) {
    setBanner("Reconnecting… Changes made meanwhile will appear when the connection is back.");
  } else if (state === "unauthorized" && session) {
    // The server refuses every token this tab can get (the session ended, the account was deleted, the
    // server's signing key changed and the session with it): no amount of retrying helps.
    signOutEverywhere(SESSION_ENDED);
  } else if (state === "closed" && session) {
    setBanner("Offline: live updates have stopped. Reload the page to reconnect.");
  }
}

// Ends what is left of the session (the cookie too) and shows the sign-in page with `message`.
async function signOutEverywhere(message) {
  signOut(message);
  signingOut = true;
  try {
    await auth.logout();
  } finally {
    signingOut = false;
  }
}

// --- my presence ----------------------------------------------------------------------------------

function currentStatus() {
  return document.visibilityState === "hidden" && myStatus === "online" ? "away" : myStatus;
}

// The status goes to the workspace whose board is open (one frame, whatever the number of
// workspaces, so a change never runs into the connection's rate limit).
function sendStatus() {
  if (client && board) client.updatePresence(board.workspace.id, currentStatus());
}

function bindPresence() {
  $("my-status").addEventListener("change", (event) => {
    myStatus = event.target.value;
    sendStatus();
  });
  document.addEventListener("visibilitychange", sendStatus);
}

// --- start ------------------------------------------------------------------------------------------

async function start() {
  bindAuthForms();
  bindWorkspaceForm();
  bindBoardForms();
  bindPresence();
  window.addEventListener("hashchange", route);
  // A session of this browser (the cookie of an earlier sign-in, or of another tab) is picked up:
  // onSignedIn enters. None: the sign-in page.
  try {
    if (await auth.resume()) return;
  } catch (error) {
    showError(explain(error));
  }
  if (!session) route();
}

start();
