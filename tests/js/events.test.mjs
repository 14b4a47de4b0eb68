// Events and collaboration frames through the client's handlers, against a real Taskroom node.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import WebSocket from "ws";
import TodoWebSocketClient from "../../clients/js/taskroom.js";
import { Rest, recordLoggedEvents, recordingWebSocket, serverUrl, until } from "./support.mjs";

let base;
let rest;

before(() => {
  base = serverUrl();
  rest = new Rest(base);
});

test("the original design's example works as written, with the browser's global WebSocket", async () => {
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  const previous = globalThis.WebSocket;
  globalThis.WebSocket = WebSocket; // as in a browser; Node 20 has no WebSocket of its own
  try {
    const client = new TodoWebSocketClient({
      url: `ws${base.slice(4)}/api/v1/ws`,
      token: alice.token,
      workspaceIds: [workspace.id],
    });
    const titles = [];
    client.onTaskCreated(({ task }) => titles.push(task.title));
    await client.connect();
    assert.equal(client.state, "open");
    await rest.createTask(alice.token, workspace.id, "Write the plan");
    await until(() => titles.length === 1, "the TASK_CREATED event");
    assert.deepEqual(titles, ["Write the plan"]);
    await client.disconnect();
    assert.equal(client.state, "closed");
  } finally {
    globalThis.WebSocket = previous;
  }
});

test("every logged event reaches its own handler once, in seq order, data first and the envelope second", async () => {
  const alice = await rest.register("Alice");
  const bo = await rest.register("Bo");
  const workspace = await rest.createWorkspace(alice.token);
  const client = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket });
  const calls = [];
  const methods = {
    onTaskCreated: "TASK_CREATED",
    onTaskUpdated: "TASK_UPDATED",
    onTaskDeleted: "TASK_DELETED",
    onTaskCompleted: "TASK_COMPLETED",
    onTaskMoved: "TASK_MOVED",
    onTaskRestored: "TASK_RESTORED",
    onCommentAdded: "COMMENT_ADDED",
    onCommentUpdated: "COMMENT_UPDATED",
    onCommentDeleted: "COMMENT_DELETED",
    onWorkspaceUpdated: "WORKSPACE_UPDATED",
    onWorkspaceMemberAdded: "WORKSPACE_MEMBER_ADDED",
    onWorkspaceMemberRemoved: "WORKSPACE_MEMBER_REMOVED",
    onWorkspaceDeleted: "WORKSPACE_DELETED",
  };
  for (const [method, type] of Object.entries(methods)) {
    client[method]((data, envelope) => calls.push({ type, data, envelope }));
  }
  await client.connect();
  const startSeq = client.lastSeq(workspace.id);
  assert.equal(startSeq, workspace.seq);

  const first = await rest.createTask(alice.token, workspace.id, "First");
  const second = await rest.createTask(alice.token, workspace.id, "Second");
  await rest.ok("PATCH", `/tasks/${first.id}`, { token: alice.token, body: { title: "First, renamed" } });
  await rest.ok("POST", `/tasks/${first.id}/complete`, { token: alice.token, body: { completed: true } });
  await rest.ok("POST", `/tasks/${second.id}/move`, { token: alice.token, body: { status: "in_progress" } });
  await rest.addMember(alice.token, workspace.id, bo.email);
  await rest.ok("PATCH", `/workspaces/${workspace.id}`, { token: alice.token, body: { name: "Renamed" } });
  await rest.ok("DELETE", `/tasks/${second.id}`, { token: alice.token });
  await rest.ok("POST", `/tasks/${second.id}/restore`, { token: alice.token });
  const comment = await rest.ok("POST", `/tasks/${second.id}/comments`, { token: alice.token, body: { body: "Hi" } });
  await rest.ok("PATCH", `/comments/${comment.id}`, { token: alice.token, body: { body: "Hi again" } });
  await rest.ok("DELETE", `/comments/${comment.id}`, { token: alice.token });
  await rest.ok("DELETE", `/workspaces/${workspace.id}/members/${bo.id}`, { token: alice.token });
  const log = await rest.events(alice.token, workspace.id, startSeq);
  await rest.ok("DELETE", `/workspaces/${workspace.id}`, { token: alice.token });

  await until(() => calls.some((call) => call.type === "WORKSPACE_DELETED"), "WORKSPACE_DELETED");
  const beforeDeletion = calls.slice(0, -1);
  assert.deepEqual(
    beforeDeletion.map((call) => call.envelope),
    log.events,
    "the client delivered exactly the workspace's log, in order",
  );
  for (const { type, data, envelope } of calls) {
    assert.equal(envelope.type, type, "each event went to the handler of its type");
    assert.equal(data, envelope.data);
  }
  assert.deepEqual(
    calls.map((call) => call.type),
    [
      "TASK_CREATED",
      "TASK_CREATED",
      "TASK_UPDATED",
      "TASK_COMPLETED",
      "TASK_MOVED",
      "WORKSPACE_MEMBER_ADDED",
      "WORKSPACE_UPDATED",
      "TASK_DELETED",
      "TASK_RESTORED",
      "COMMENT_ADDED",
      "COMMENT_UPDATED",
      "COMMENT_DELETED",
      "WORKSPACE_MEMBER_REMOVED",
      "WORKSPACE_DELETED",
    ],
  );
  assert.equal(calls[9].data.comment.id, comment.id, "COMMENT_ADDED carries the comment");
  assert.equal(calls[10].data.comment.body, "Hi again");
  assert.equal(calls[11].data.commentId, comment.id);
  assert.equal(calls[8].data.task.id, second.id, "TASK_RESTORED carries the task back");
  assert.equal(calls[2].data.task.title, "First, renamed");
  assert.deepEqual(calls[4].data.to.status, "in_progress");
  assert.equal(client.lastSeq(workspace.id), undefined, "a deleted workspace is not resumed");
  await client.disconnect();
});

test("an unsubscribed handler hears nothing more, and WORKSPACE_CREATED reaches the creator", async () => {
  const alice = await rest.register("Alice");
  const client = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket });
  const created = [];
  const titles = [];
  client.onWorkspaceCreated(({ workspace }) => created.push(workspace.name));
  const unsubscribe = client.onTaskCreated(({ task }) => titles.push(task.title));
  const others = recordLoggedEvents(client);
  await client.connect();
  const workspace = await rest.createWorkspace(alice.token, "Made while connected");
  await until(() => created.length === 1, "WORKSPACE_CREATED");
  assert.deepEqual(created, ["Made while connected"]);
  await rest.createTask(alice.token, workspace.id, "Heard");
  await until(() => titles.length === 1, "the first TASK_CREATED");
  unsubscribe();
  await rest.createTask(alice.token, workspace.id, "Not heard");
  await until(() => others.length === 2, "the second TASK_CREATED on the other handler");
  assert.deepEqual(titles, ["Heard"]);
  await client.disconnect();
});

test("presence, typing and cursors reach the other members; cursors leave at most one per 50 ms, the latest winning", async () => {
  const alice = await rest.register("Alice");
  const bo = await rest.register("Bo");
  const workspace = await rest.createWorkspace(alice.token);
  await rest.addMember(alice.token, workspace.id, bo.email);
  const task = await rest.createTask(alice.token, workspace.id, "Shared");
  const recording = recordingWebSocket();
  const aliceClient = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket: recording.WebSocket });
  const boClient = new TodoWebSocketClient({ url: base, token: bo.token, WebSocket });
  const seen = { presenceState: [], presence: [], typing: [], cursors: [] };
  boClient.onPresenceState((data) => seen.presenceState.push(data));
  boClient.onUserPresence((data) => seen.presence.push(data));
  boClient.onUserTyping((data) => seen.typing.push(data));
  boClient.onCursorPosition((data) => seen.cursors.push(data));
  await aliceClient.connect();
  await boClient.connect();
  await until(() => seen.presenceState.length === 1, "PRESENCE_STATE after joining");
  assert.equal(seen.presenceState[0].workspaceId, workspace.id);

  assert.equal(aliceClient.updatePresence(workspace.id, "busy"), true);
  await until(() => seen.presence.some((p) => p.userId === alice.id && p.status === "busy"), "alice busy");

  aliceClient.setTyping(workspace.id, task.id, true);
  await until(() => seen.typing.length === 1, "USER_TYPING");
  assert.deepEqual(seen.typing[0], { workspaceId: workspace.id, taskId: task.id, userId: alice.id, isTyping: true });

  for (let x = 0; x < 100; x += 1) aliceClient.sendCursor(workspace.id, task.id, { x, y: 1 });
  await until(() => seen.cursors.some((c) => c.position.x === 99), "the latest cursor position");
  const sentCursors = recording.log.sent.filter((frame) => frame.type === "CURSOR_POSITION");
  assert.deepEqual(
    sentCursors.map((frame) => frame.data.position.x),
    [0, 99],
    "one call in a burst goes at once, the latest of the rest when the window ends",
  );
  assert.equal(seen.cursors.at(-1).userId, alice.id);
  assert.throws(() => aliceClient.updatePresence(workspace.id, "asleep"), TypeError);
  await Promise.all([aliceClient.disconnect(), boClient.disconnect()]);
  assert.equal(aliceClient.setTyping(workspace.id, task.id, false), false, "nothing is sent once closed");
});

test("sync() pages through hasMore and delivers the events again, in order, when asked from an earlier seq", async () => {
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  const client = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket });
  const received = recordLoggedEvents(client);
  const pages = [];
  client.onSyncResponse((data) => pages.push(data));
  await client.connect();
  const startSeq = client.lastSeq(workspace.id);
  for (let i = 0; i < 5; i += 1) await rest.createTask(alice.token, workspace.id, `Task ${i}`);
  await until(() => received.length === 5, "five live events");

  const upToDate = await client.sync(workspace.id);
  assert.deepEqual(upToDate.events, [], "nothing is missing after the live events");
  assert.equal(upToDate.latestSeq, startSeq + 5);

  const again = await client.sync(workspace.id, { sinceSeq: startSeq, limit: 2 });
  const log = await rest.events(alice.token, workspace.id, startSeq);
  assert.deepEqual(again.events, log.events);
  assert.deepEqual(received.slice(5), log.events, "the handlers got them again, in order");
  assert.deepEqual(
    pages.slice(1).map((page) => [page.events.length, page.hasMore]),
    [
      [2, true],
      [2, true],
      [1, false],
    ],
  );
  await rest.createTask(alice.token, workspace.id, "After the sync");
  await until(() => received.length === 11, "the next live event");
  assert.equal(received.at(-1).seq, startSeq + 6);
  await client.disconnect();
  await assert.rejects(client.sync(workspace.id), { code: "NOT_CONNECTED" });
});

test("a resume from a seq the log never had gives onSyncResponse a reset snapshot, then live events follow", async () => {
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  await rest.createTask(alice.token, workspace.id, "Already there");
  const latest = (await rest.events(alice.token, workspace.id)).latestSeq;
  const client = new TodoWebSocketClient({
    url: base,
    token: alice.token,
    workspaceIds: [workspace.id],
    resume: { [workspace.id]: latest + 1000 },
    WebSocket,
  });
  const resets = [];
  client.onSyncResponse((data) => resets.push(data));
  const received = recordLoggedEvents(client);
  await client.connect();
  await until(() => resets.length === 1, "the reset SYNC_RESPONSE");
  assert.equal(resets[0].reset, true);
  assert.deepEqual(
    resets[0].snapshot.tasks.map((task) => task.title),
    ["Already there"],
  );
  assert.equal(client.lastSeq(workspace.id), latest);
  await rest.createTask(alice.token, workspace.id, "After the reset");
  await until(() => received.length === 1, "the live event after the reset");
  assert.equal(received[0].seq, latest + 1);
  await client.disconnect();
});

test("server errors reach onError with their code, and a refused sync() rejects with it", async () => {
  const alice = await rest.register("Alice");
  await rest.createWorkspace(alice.token);
  const client = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket });
  const errors = [];
  client.onError((data) => errors.push(data.code));
  await client.connect();
  await assert.rejects(client.sync("not-a-workspace-of-hers"), { code: "FORBIDDEN" });
  assert.deepEqual(errors, ["FORBIDDEN"]);
  assert.equal(client.state, "open", "an error answer does not end the connection");
  await client.disconnect();
});

test("a NOTIFICATION reaches onNotification on the user's own connection, with the unread count", async () => {
  const alice = await rest.register("Alice");
  const bo = await rest.register("Bo");
  const workspace = await rest.createWorkspace(alice.token);
  await rest.addMember(alice.token, workspace.id, bo.email);
  const task = await rest.createTask(alice.token, workspace.id, "Plan");
  const client = new TodoWebSocketClient({ url: base, token: bo.token, WebSocket });
  const notes = [];
  client.onNotification((data, envelope) => notes.push({ data, envelope }));
  await client.connect();
  await rest.ok("POST", `/tasks/${task.id}/comments`, { token: alice.token, body: { body: `@{${bo.id}} look` } });
  await until(() => notes.length === 1, "NOTIFICATION");
  const [{ data, envelope }] = notes;
  assert.equal(envelope.seq, undefined, "user-targeted: no seq");
  assert.equal(data.unreadCount, 1);
  assert.equal(data.notification.kind, "mention");
  assert.equal(data.notification.taskId, task.id);
  assert.equal(data.notification.actorId, alice.id);
  await client.disconnect();
});
