// The offline-first store (clients/js/store.js, PROTOCOL §6) against a real node: opening from a persisted copy,
// the snapshot, optimistic mutations, an outbox that outlives a restart of the store while the server cannot
// be reached, rebases over other people's changes, conflicts and refusals. The server's log says what reached it.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, renameSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import WebSocket from "ws";
import { TaskroomStore } from "../../clients/js/taskroom.js";
import { Rest, serverUrl, until } from "./support.mjs";

/** A persistent adapter of the store's interface: the records in one JSON file, written whole each time. */
class JsonFileStorage {
  constructor(path) {
    this.path = path;
  }

  #read() {
    return existsSync(this.path) ? JSON.parse(readFileSync(this.path, "utf8")) : {};
  }

  get(key) {
    return this.#read()[key];
  }

  put(key, value) {
    const records = this.#read();
    records[key] = value;
    writeFileSync(`${this.path}.tmp`, JSON.stringify(records));
    renameSync(`${this.path}.tmp`, this.path);
  }

  delete(key) {
    const records = this.#read();
    delete records[key];
    writeFileSync(this.path, JSON.stringify(records));
  }
}

function fileStorage() {
  return new JsonFileStorage(join(mkdtempSync(join(tmpdir(), "store-")), "records.json"));
}

/** A port nothing listens on: what an unreachable server looks like. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** fetch with a switch: while `offline`, writes fail as a lost network does (reads still go through). */
function gatedFetch() {
  const gate = { offline: false, writes: [] };
  gate.fetch = async (url, init) => {
    const method = init?.method ?? "GET";
    if (method !== "GET") {
      if (gate.offline) throw new TypeError("fetch failed (offline)");
      gate.writes.push({ method, url: String(url), key: init.headers["idempotency-key"] });
    }
    return fetch(url, init);
  };
  return gate;
}

const quick = { floorMs: 20, baseMs: 50, capMs: 200 };
const common = { retry: quick, reconnect: quick, WebSocket };

function storeFor(user, options = {}) {
  return new TaskroomStore({ url: serverUrl(), token: user.token, ...common, ...options });
}

async function serverTasks(rest, token, workspaceId) {
  const { items } = await rest.ok("GET", `/workspaces/${workspaceId}/tasks?limit=500`, { token });
  return items;
}

// What the app sees of a board, in a form to compare with the server's tasks.
function board(tasks) {
  return tasks.map(({ id, title, status, completed, priority }) => ({ id, title, status, completed, priority }));
}

async function setUp() {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  return { rest, alice, workspace };
}

test("without a copy the store reads the snapshot, then follows live events", async () => {
  const { rest, alice, workspace } = await setUp();
  for (const title of ["One", "Two", "Three"]) await rest.createTask(alice.token, workspace.id, title);
  const store = storeFor(alice, { pageLimit: 2 });
  const syncs = [];
  store.onSync((report) => syncs.push(report));
  const replica = await store.open(workspace.id);
  assert.deepEqual(board(replica.tasks), board(await serverTasks(rest, alice.token, workspace.id)));
  assert.equal(replica.latestSeq, 3);
  assert.equal(replica.workspace.id, workspace.id);
  assert.deepEqual(replica.members.map((m) => m.userId), [alice.id]);
  assert.equal(syncs[0].kind, "snapshot");
  assert.equal(syncs[0].reason, "no copy");

  const column = store.column(workspace.id, "todo");
  const seen = [];
  column.subscribe((tasks) => seen.push(tasks.map((t) => t.title)));
  await until(() => store.client?.state === "open", "the store's live connection");
  await rest.createTask(alice.token, workspace.id, "Four");
  await until(() => replica.latestSeq === 4, "the live TASK_CREATED");
  assert.deepEqual(seen.at(-1), ["One", "Two", "Three", "Four"]);
  await store.close();
});

test("a node without the snapshot route (before v1.1): the store reads the workspace, members and tasks instead", async () => {
  const { rest, alice, workspace } = await setUp();
  for (const title of ["One", "Two"]) await rest.createTask(alice.token, workspace.id, title);
  const olderNode = async (url, init) =>
    String(url).includes("/snapshot")
      ? new Response(JSON.stringify({ error: { code: "NOT_FOUND", message: "Not Found" } }), { status: 404 })
      : fetch(url, init);
  const store = storeFor(alice, { fetch: olderNode });
  const replica = await store.open(workspace.id);
  assert.deepEqual(board(replica.tasks), board(await serverTasks(rest, alice.token, workspace.id)));
  assert.equal(replica.latestSeq, 2);
  assert.deepEqual(replica.members.map((m) => m.userId), [alice.id]);
  await store.close();
});

test("a persisted copy opens at once and catches up with the events since its seq", async () => {
  const { rest, alice, workspace } = await setUp();
  const storage = fileStorage();
  await rest.createTask(alice.token, workspace.id, "Before");
  const first = storeFor(alice, { storage });
  await first.open(workspace.id);
  await first.close();

  const later = await rest.createTask(alice.token, workspace.id, "While closed");
  await rest.ok("PATCH", `/tasks/${later.id}`, { token: alice.token, body: { priority: "high" } });

  // The second store's first view is the copy, before any answer of the server.
  const second = storeFor(alice, { storage });
  const syncs = [];
  second.onSync((report) => syncs.push(report));
  const replica = await second.open(workspace.id);
  assert.equal(syncs[0].kind, "copy");
  assert.equal(syncs[0].latestSeq, 1);
  await replica.synced;
  assert.equal(syncs[1].kind, "events");
  assert.equal(syncs[1].events, 2);
  assert.equal(replica.latestSeq, 3);
  assert.deepEqual(board(replica.tasks), board(await serverTasks(rest, alice.token, workspace.id)));
  assert.equal(second.task(later.id).current.priority, "high");
  await second.close();
});

test("optimistic create, update, move, complete and delete: seen at once, then the server's state", async () => {
  const { rest, alice, workspace } = await setUp();
  const a = await rest.createTask(alice.token, workspace.id, "A");
  const b = await rest.createTask(alice.token, workspace.id, "B");
  const gate = gatedFetch();
  const store = storeFor(alice, { fetch: gate.fetch });
  await store.open(workspace.id);
  gate.offline = true;
  const pendingCounts = [];
  store.onPendingChange((pending) => pendingCounts.push(pending.length));
  // The created task is never shown twice (its TASK_CREATED may come before the POST's answer).
  let most = 0;
  store.subscribe(() => (most = Math.max(most, store.tasks(workspace.id).length)));

  const created = await store.createTask(workspace.id, { title: "New" });
  assert.match(created.id, /^local-/);
  await store.updateTask(created.id, { title: "New, renamed" });
  await store.moveTask(created.id, { status: "todo", beforeId: a.id, afterId: b.id });
  await store.completeTask(a.id, true);
  await store.moveTask(b.id, { status: "in_progress" });
  await store.deleteTask(a.id);
  assert.deepEqual(
    store.tasks(workspace.id).map((t) => [t.title, t.status, t.completed]),
    [
      ["New, renamed", "todo", false],
      ["B", "in_progress", false],
    ],
  );
  assert.equal(store.pendingCount, 6);
  assert.deepEqual(pendingCounts, [1, 2, 3, 4, 5, 6]);

  gate.offline = false;
  await store.flush();
  await until(() => store.pendingCount === 0 && store.status === "idle", "the outbox to be sent");
  const server = await serverTasks(rest, alice.token, workspace.id);
  await until(() => store.latestSeq(workspace.id) === 2 + 6, "the events of the six writes");
  assert.deepEqual(board(store.tasks(workspace.id)), board(server));
  assert.equal(store.task(created.id).current.id, server[0].id, "the temporary id leads to the server's task");
  assert.equal(pendingCounts.at(-1), 0);
  assert.equal(most, 3);
  await store.close();
});

test("the outbox survives a restart while the server is unreachable, and each write reaches it once, in order", async () => {
  const { rest, alice, workspace } = await setUp();
  const keep = await rest.createTask(alice.token, workspace.id, "Keep");
  const gone = await rest.createTask(alice.token, workspace.id, "Gone");
  const storage = fileStorage();
  const online = storeFor(alice, { storage });
  await online.open(workspace.id);
  await online.close();

  // Offline: the server's address answers nothing. The edits wait in the persisted outbox.
  const offline = new TaskroomStore({ url: await closedPort(), token: alice.token, storage, ...common });
  const waiting = [];
  offline.onStatusChange((status) => waiting.push(status));
  await offline.open(workspace.id);
  const created = await offline.createTask(workspace.id, { title: "Offline" });
  await offline.updateTask(created.id, { priority: "urgent" });
  await offline.updateTask(keep.id, { title: "Kept" });
  await offline.completeTask(keep.id, true);
  await offline.moveTask(created.id, { status: "done" });
  await offline.deleteTask(gone.id);
  await until(() => waiting.includes("waiting"), "a send that met the unreachable server");
  assert.equal(offline.pendingCount, 6);
  await offline.close();

  // A "restart": a new store on the same records, the server reachable again; some answers are lost on
  // the way back, so those writes are sent twice with their Idempotency-Key.
  let lost = 0;
  const keys = [];
  const lossy = async (url, init) => {
    const response = await fetch(url, init);
    if ((init?.method ?? "GET") !== "GET") {
      keys.push(init.headers["idempotency-key"]);
      if (lost < 3 && keys.length % 2 === 1) {
        lost += 1;
        throw new TypeError("fetch failed (the answer was lost)");
      }
    }
    return response;
  };
  const restarted = storeFor(alice, { storage, fetch: lossy });
  assert.equal((await restarted.open(workspace.id)) && restarted.pendingCount, 6, "the outbox came back from the records");
  await until(() => restarted.pendingCount === 0 && restarted.status === "idle", "the outbox to be sent");
  assert.equal(lost, 3);
  assert.equal(new Set(keys).size, 6, "one key per mutation, the same on every send of it");

  const log = await rest.events(alice.token, workspace.id, 2);
  const serverId = restarted.task(created.id).current.id;
  assert.deepEqual(
    log.events.map(({ type, data }) => [type, data.task?.id ?? data.taskId]),
    [
      ["TASK_CREATED", serverId],
      ["TASK_UPDATED", serverId],
      ["TASK_UPDATED", keep.id],
      ["TASK_COMPLETED", keep.id],
      ["TASK_MOVED", serverId],
      ["TASK_DELETED", gone.id],
    ],
    "exactly the six writes, once each, in the order they were made",
  );
  await until(() => restarted.latestSeq(workspace.id) === log.latestSeq, "the replica to reach the log's head");
  assert.deepEqual(board(restarted.tasks(workspace.id)), board(await serverTasks(rest, alice.token, workspace.id)));
  await restarted.close();
  const reopened = storeFor(alice, { storage });
  await reopened.open(workspace.id);
  assert.equal(reopened.pendingCount, 0, "nothing sent is left in the records");
  await reopened.close();
});

test("a pending edit is rebased over another user's change of another field, and both end on the server", async () => {
  const { rest, alice, workspace } = await setUp();
  const bo = await rest.register("Bo");
  await rest.addMember(alice.token, workspace.id, bo.email);
  const task = await rest.createTask(alice.token, workspace.id, "Draft");
  const gate = gatedFetch();
  const store = storeFor(alice, { fetch: gate.fetch });
  await store.open(workspace.id);
  await until(() => store.client?.state === "open", "the store's live connection");
  gate.offline = true;
  await store.updateTask(task.id, { title: "Mine" });

  await rest.ok("PATCH", `/tasks/${task.id}`, { token: bo.token, body: { priority: "high" } });
  await until(() => store.task(task.id).current.priority === "high", "Bo's change in the replica");
  assert.equal(store.task(task.id).current.title, "Mine", "the pending title stays on top");
  assert.equal(store.task(task.id).current.pending, true);

  gate.offline = false;
  await store.flush();
  await until(() => store.pendingCount === 0, "the edit to be sent");
  const current = await rest.ok("GET", `/tasks/${task.id}`, { token: alice.token });
  assert.equal(current.title, "Mine");
  assert.equal(current.priority, "high");
  await until(() => store.task(task.id).current.version === current.version, "the replica to follow");
  assert.equal(store.task(task.id).current.pending, undefined);
  await store.close();
});

test("a pending move keeps its place between its neighbours while others move around it", async () => {
  const { rest, alice, workspace } = await setUp();
  const bo = await rest.register("Bo");
  await rest.addMember(alice.token, workspace.id, bo.email);
  const tasks = [];
  for (const title of ["A", "B", "C", "D"]) tasks.push(await rest.createTask(alice.token, workspace.id, title));
  const gate = gatedFetch();
  const store = storeFor(alice, { fetch: gate.fetch });
  await store.open(workspace.id);
  await until(() => store.client?.state === "open", "the store's live connection");
  gate.offline = true;
  const titles = () => store.column(workspace.id, "todo").current.map((t) => t.title);
  await store.moveTask(tasks[3].id, { status: "todo", beforeId: tasks[0].id, afterId: tasks[1].id });
  assert.deepEqual(titles(), ["A", "D", "B", "C"]);

  // Bo puts C at the top, then A at the very end: D stays right below A.
  await rest.ok("POST", `/tasks/${tasks[2].id}/move`, { token: bo.token, body: { status: "todo", afterId: tasks[0].id } });
  await rest.ok("POST", `/tasks/${tasks[0].id}/move`, { token: bo.token, body: { status: "todo" } });
  // Seq: Bo joining, the four tasks, then Bo's two moves.
  await until(() => store.latestSeq(workspace.id) === 7, "Bo's two moves");
  assert.deepEqual(titles(), ["C", "B", "A", "D"]);

  gate.offline = false;
  await store.flush();
  await until(() => store.pendingCount === 0, "the move to be sent");
  const server = (await serverTasks(rest, alice.token, workspace.id)).map((t) => t.title);
  assert.deepEqual(server, ["C", "B", "A", "D"]);
  await until(() => store.latestSeq(workspace.id) === 8, "the move's event");
  assert.deepEqual(titles(), server);
  await store.close();
});

for (const choice of ["mine", "theirs"]) {
  test(`a 409 goes to onConflict with both versions; "${choice}" decides what the server keeps`, async () => {
    const { rest, alice, workspace } = await setUp();
    const bo = await rest.register("Bo");
    await rest.addMember(alice.token, workspace.id, bo.email);
    const task = await rest.createTask(alice.token, workspace.id, "Draft");
    const gate = gatedFetch();
    const conflicts = [];
    const store = storeFor(alice, {
      fetch: gate.fetch,
      onConflict: (mine, current) => {
        conflicts.push({ mine, current });
        return choice;
      },
    });
    await store.open(workspace.id);
    gate.offline = true;
    await store.updateTask(task.id, { title: "Alice's" });
    await rest.ok("PATCH", `/tasks/${task.id}`, { token: bo.token, body: { title: "Bo's" } });

    gate.offline = false;
    await store.flush();
    await until(() => store.pendingCount === 0, "the conflict to be settled");
    assert.equal(conflicts.length, 1);
    assert.equal(conflicts[0].mine.kind, "update");
    assert.deepEqual(conflicts[0].mine.fields, { title: "Alice's" });
    assert.equal(conflicts[0].mine.baseVersion, task.version);
    assert.equal(conflicts[0].current.title, "Bo's");
    const expected = choice === "mine" ? "Alice's" : "Bo's";
    assert.equal((await rest.ok("GET", `/tasks/${task.id}`, { token: alice.token })).title, expected);
    await until(() => store.task(task.id).current.title === expected && !store.task(task.id).current.pending, "the replica");
    const patches = gate.writes.filter((w) => w.method === "PATCH");
    assert.equal(patches.length, choice === "mine" ? 2 : 1);
    await store.close();
  });
}

test("a refused mutation is rolled back and handed to onRefused; the ones after it still go", async () => {
  const { rest, alice, workspace } = await setUp();
  const task = await rest.createTask(alice.token, workspace.id, "Fine");
  const gate = gatedFetch();
  const refused = [];
  const store = storeFor(alice, { fetch: gate.fetch, onRefused: (mutation, error) => refused.push({ mutation, error }) });
  await store.open(workspace.id);
  gate.offline = true;
  await store.updateTask(task.id, { title: "x".repeat(501) });
  const created = await store.createTask(workspace.id, { title: "" });
  await store.updateTask(created.id, { priority: "high" });
  await store.completeTask(task.id, true);
  assert.equal(store.task(task.id).current.title.length, 501);
  assert.equal(store.tasks(workspace.id).length, 2);

  gate.offline = false;
  await store.flush();
  await until(() => store.pendingCount === 0, "the outbox to be settled");
  assert.deepEqual(
    refused.map(({ mutation, error }) => [mutation.kind, error.status ?? null]),
    [
      ["update", 422],
      ["create", 422],
      ["update", null],
    ],
  );
  assert.equal(refused[0].error.code, "VALIDATION_ERROR");
  assert.equal(store.task(task.id).current.title, "Fine", "rolled back");
  assert.equal(store.task(created.id).current, undefined, "the refused task is gone from the replica");
  await until(() => store.task(task.id).current.completed === true && !store.task(task.id).current.pending, "the completion");
  assert.deepEqual(board(store.tasks(workspace.id)), board(await serverTasks(rest, alice.token, workspace.id)));
  await store.close();
});

test("a refused token stops the outbox and says so; nothing is lost", async () => {
  const { rest, alice, workspace } = await setUp();
  const storage = fileStorage();
  const store = storeFor(alice, { storage });
  await store.open(workspace.id);
  await store.close();
  const refusedStore = new TaskroomStore({ url: serverUrl(), token: "not-a-token", storage, ...common });
  const statuses = [];
  refusedStore.onStatusChange((status, detail) => statuses.push([status, detail.error?.code]));
  await refusedStore.open(workspace.id);
  await refusedStore.createTask(workspace.id, { title: "Later" });
  await until(() => refusedStore.status === "unauthorized", "the unauthorized status");
  assert.deepEqual(statuses.at(-1), ["unauthorized", "UNAUTHORIZED"]);
  assert.equal(refusedStore.pendingCount, 1);
  await refusedStore.close();
  const again = storeFor(alice, { storage });
  await again.open(workspace.id);
  await until(() => again.pendingCount === 0, "the outbox, with a good token");
  assert.deepEqual((await serverTasks(rest, alice.token, workspace.id)).map((t) => t.title), ["Later"]);
  await again.close();
});

// Columns of the workspace's own (PROTOCOL §7): two open, then two done.
const OWN_COLUMNS = [
  { key: "backlog", name: "Backlog", done: false },
  { key: "review", name: "Review", done: false },
  { key: "shipped", name: "Shipped", done: true },
  { key: "archived", name: "Archived", done: true },
];

// What a board shows of its tasks without their ids (a created task's id is temporary until it is sent).
function places(tasks) {
  return tasks.map(({ title, status, completed }) => [title, status, completed]);
}

test("with columns of its own, optimistic complete, move and create show where the server then puts them", async () => {
  const { rest, alice, workspace } = await setUp();
  await rest.ok("PATCH", `/workspaces/${workspace.id}`, { token: alice.token, body: { columns: OWN_COLUMNS } });
  const a = await rest.createTask(alice.token, workspace.id, "A");
  const b = await rest.createTask(alice.token, workspace.id, "B");
  const c = await rest.ok("POST", `/workspaces/${workspace.id}/tasks`, {
    token: alice.token,
    body: { title: "C", status: "shipped" },
  });
  assert.deepEqual([a.status, c.status, c.completed], ["backlog", "shipped", true]);
  const gate = gatedFetch();
  const store = storeFor(alice, { fetch: gate.fetch });
  const replica = await store.open(workspace.id);
  assert.deepEqual(replica.columns, OWN_COLUMNS);
  gate.offline = true;

  await store.completeTask(a.id, true); // to the end of the first done column
  await store.completeTask(c.id, false); // to the end of the first open one
  await store.moveTask(b.id, { status: "archived" }); // into a done column: completed
  const created = await store.createTask(workspace.id, { title: "New" }); // the first open column
  assert.equal(created.status, "backlog");
  await store.createTask(workspace.id, { title: "Filed", status: "archived" }); // created completed
  await store.moveTask(a.id, { status: "archived", afterId: b.id }); // between two done columns: still completed
  await store.moveTask(created.id, { status: "review" });
  await store.completeTask(b.id, true); // completed already: nothing changes
  await assert.rejects(store.moveTask(b.id, { status: "done" }), TypeError, "not a column of this workspace");
  await assert.rejects(store.createTask(workspace.id, { title: "X", status: "todo" }), TypeError);
  assert.throws(() => store.column(workspace.id, "in_progress"), TypeError);

  const optimistic = places(store.tasks(workspace.id));
  assert.deepEqual(optimistic, [
    ["C", "backlog", false],
    ["New", "review", false],
    ["A", "archived", true],
    ["B", "archived", true],
    ["Filed", "archived", true],
  ]);
  assert.deepEqual(places(store.column(workspace.id, "shipped").current), []);
  assert.equal(store.task(b.id).current.completedAt !== null, true);

  gate.offline = false;
  await store.flush();
  await until(() => store.pendingCount === 0 && store.status === "idle", "the outbox to be sent");
  const { latestSeq } = await rest.events(alice.token, workspace.id);
  await until(() => store.latestSeq(workspace.id) === latestSeq, "the events of the writes");
  const server = await serverTasks(rest, alice.token, workspace.id);
  assert.deepEqual(places(server), optimistic, "the server put each task where the replica showed it");
  assert.deepEqual(board(store.tasks(workspace.id)), board(server));
  assert.equal(store.tasks(workspace.id).some((t) => t.pending), false);
  await store.close();
});

test("a WORKSPACE_UPDATED with new columns reaches the replica, and its columns follow", async () => {
  const { rest, alice, workspace } = await setUp();
  const task = await rest.createTask(alice.token, workspace.id, "Draft");
  const store = storeFor(alice);
  const replica = await store.open(workspace.id);
  assert.deepEqual(replica.columns.map((column) => column.key), ["todo", "in_progress", "done"]);
  assert.throws(() => replica.column("review"), TypeError, "no such column yet");
  await until(() => store.client?.state === "open", "the store's live connection");
  const reasons = [];
  replica.subscribe((change) => reasons.push(change.reason));

  const columns = [
    { key: "todo", name: "Backlog", done: false },
    { key: "in_progress", name: "In progress", done: false },
    { key: "review", name: "Review", done: false },
    { key: "done", name: "Done", done: true },
  ];
  await rest.ok("PATCH", `/workspaces/${workspace.id}`, { token: alice.token, body: { columns } });
  await until(() => replica.columns.length === 4, "the new columns in the replica");
  assert.deepEqual(replica.columns, columns);
  assert.deepEqual(store.workspace(workspace.id).columns, columns);
  assert.ok(reasons.includes("WORKSPACE_UPDATED"));
  assert.deepEqual(replica.column("review").current, []);

  // The new column takes a move at once, and the server agrees.
  const seen = [];
  replica.column("review").subscribe((tasks) => seen.push(tasks.map((t) => t.title)));
  await store.moveTask(task.id, { status: "review" });
  assert.deepEqual(seen[0], ["Draft"]);
  await until(() => store.pendingCount === 0 && !store.task(task.id).current.pending, "the move to be confirmed");
  const current = await rest.ok("GET", `/tasks/${task.id}`, { token: alice.token });
  assert.deepEqual([current.status, current.completed], ["review", false]);
  assert.deepEqual(places(replica.tasks), [["Draft", "review", false]]);

  // A store opened later reads the columns from the snapshot.
  const later = storeFor(alice);
  assert.deepEqual((await later.open(workspace.id)).columns, columns);
  await later.close();
  await store.close();
});
