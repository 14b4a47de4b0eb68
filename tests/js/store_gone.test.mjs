// The store against a node that keeps its log 1 ms (WS_EVENT_RETENTION=1): a copy whose seq the log no longer
// reaches gets 410 from GET /events, and the store reloads the workspace from the snapshot.
import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { MemoryStorage, TaskroomStore } from "../../clients/js/taskroom.js";
import { Rest, serverUrl, until } from "./support.mjs";

test("a copy older than the log's retention is replaced by the snapshot (410 GONE)", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  const first = await rest.createTask(alice.token, workspace.id, "First");
  const storage = new MemoryStorage();
  const options = { url: serverUrl(), token: alice.token, storage, WebSocket };
  const before = new TaskroomStore(options);
  await before.open(workspace.id);
  await before.close();
  const copySeq = before.latestSeq(workspace.id);

  await rest.createTask(alice.token, workspace.id, "Second");
  await rest.ok("PATCH", `/tasks/${first.id}`, { token: alice.token, body: { title: "First, renamed" } });
  // The node prunes every second at this retention.
  await until(async () => (await rest.call("GET", `/workspaces/${workspace.id}/events?since=${copySeq}`, { token: alice.token })).status === 410, "the log to drop the copy's seq");

  const store = new TaskroomStore(options);
  const syncs = [];
  store.onSync((report) => syncs.push(report));
  const replica = await store.open(workspace.id);
  assert.equal(syncs[0].kind, "copy");
  await replica.synced;
  assert.ok(syncs.some((report) => report.kind === "snapshot" && report.reason === "gone"), JSON.stringify(syncs));
  assert.deepEqual(replica.tasks.map((t) => t.title).sort(), ["First, renamed", "Second"]);
  assert.equal(replica.latestSeq, 3);
  await store.close();
});
