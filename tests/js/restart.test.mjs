// The node is stopped and started again on the same port while writes go on; the client, told nothing,
// reconnects, resumes, and ends with every event of the log exactly once and in order.
// TASKROOM_CONTROL_URL is the pytest side's: POST /restart stops the node, waits, starts it again.
import assert from "node:assert/strict";
import { test } from "node:test";
import TodoWebSocketClient from "../../clients/js/taskroom.js";
import { Rest, recordLoggedEvents, recordingWebSocket, serverUrl, sleep, until } from "./support.mjs";

test("a client that lives through a node restart ends with every event once, in order, and its presence back", async () => {
  const base = serverUrl();
  const control = serverUrl("TASKROOM_CONTROL_URL");
  const rest = new Rest(base);
  const alice = await rest.register("Alice");
  const bo = await rest.register("Bo");
  const workspace = await rest.createWorkspace(alice.token);
  await rest.addMember(alice.token, workspace.id, bo.email);

  const policy = { floorMs: 100, baseMs: 200, capMs: 800 };
  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url: base, token: alice.token, WebSocket: recording.WebSocket, reconnect: policy });
  const received = recordLoggedEvents(client);
  const states = [];
  client.onStateChange((state) => states.push(state));
  await client.connect();
  const startSeq = client.lastSeq(workspace.id);
  client.updatePresence(workspace.id, "busy");

  // Bo watches Alice's presence; what he learns after his own reconnect must say "busy" again.
  const watcher = new TodoWebSocketClient({ url: base, token: bo.token, WebSocket: recordingWebSocket().WebSocket, reconnect: policy });
  let watcherReconnected = false;
  let aliceAfterRestart = null;
  watcher.onStateChange((state, detail) => {
    if (state === "open" && detail.resumed) watcherReconnected = true;
  });
  watcher.onPresenceState(({ users }) => {
    if (watcherReconnected) aliceAfterRestart = users.find((u) => u.userId === alice.id)?.status ?? aliceAfterRestart;
  });
  watcher.onUserPresence(({ userId, status }) => {
    if (watcherReconnected && userId === alice.id) aliceAfterRestart = status;
  });
  await watcher.connect();

  // Writes go on all along; those the stopped node cannot take fail and are not in the log.
  let writing = true;
  let written = 0;
  let failed = 0;
  const writer = (async () => {
    for (let i = 0; writing; i += 1) {
      try {
        await rest.createTask(alice.token, workspace.id, `Task ${i}`);
        written += 1;
      } catch {
        failed += 1;
      }
      await sleep(15);
    }
  })();

  await until(() => received.length >= 5, "live events before the restart");
  const restarted = await fetch(`${control}/restart`, { method: "POST", signal: AbortSignal.timeout(30000) });
  assert.equal(restarted.status, 200, await restarted.text());
  const writtenAtRestart = written;
  await until(() => written >= writtenAtRestart + 10, "writes on the restarted node");
  writing = false;
  await writer;

  const log = await rest.events(alice.token, workspace.id, startSeq);
  await until(() => client.lastSeq(workspace.id) === log.latestSeq, `the client to reach seq ${log.latestSeq}`);
  assert.deepEqual(received, log.events, "every event of the log once, in order, nothing else");
  assert.ok(failed > 0, "some writes met the stopped node (the restart happened while writing)");

  const authentications = recording.log.sent.filter((frame) => frame.type === "AUTHENTICATE");
  assert.ok(authentications.length >= 2, "the client reconnected by itself");
  assert.equal(authentications[0].data.resume?.[workspace.id], undefined);
  for (const later of authentications.slice(1)) {
    assert.ok(later.data.resume[workspace.id] >= startSeq, "every reconnect resumes the workspace");
  }
  assert.deepEqual(states.slice(0, 3), ["connecting", "open", "reconnecting"]);
  assert.equal(states.at(-1), "open");

  await until(() => aliceAfterRestart === "busy", "Alice's presence, sent again after her reconnect");
  await Promise.all([client.disconnect(), watcher.disconnect()]);
});
