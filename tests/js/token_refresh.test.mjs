// Short-lived tokens (the node runs with JWT_TTL_SECONDS=5): the provider is asked before each expiry and
// the connection carries on with no event lost; a token refused at connect (4401) is replaced through it.
import assert from "node:assert/strict";
import { test } from "node:test";
import TodoWebSocketClient from "../../clients/js/taskroom.js";
import { Rest, recordLoggedEvents, recordingWebSocket, serverUrl, sleep, until } from "./support.mjs";

test("expiring tokens are refreshed through the provider on the open connection, losing no event", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  const workspace = await rest.createWorkspace(alice.token);
  const expired = alice.token; // five seconds from now it is refused

  let provided = 0;
  const provider = async () => {
    provided += 1;
    return rest.login(alice.email);
  };
  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url: serverUrl(), token: provider, WebSocket: recording.WebSocket });
  const received = recordLoggedEvents(client);
  const states = [];
  client.onStateChange((state) => states.push(state));
  await client.connect();
  const startSeq = client.lastSeq(workspace.id);

  // The writer needs fresh tokens too: one per second keeps it well inside their life.
  let writerToken = await rest.login(alice.email);
  let writerTokenAt = Date.now();
  let i = 0;
  while (provided < 3) {
    if (Date.now() - writerTokenAt > 1000) {
      writerToken = await rest.login(alice.email);
      writerTokenAt = Date.now();
    }
    await rest.createTask(writerToken, workspace.id, `Task ${i++}`);
    await sleep(50);
  }
  await rest.createTask(await rest.login(alice.email), workspace.id, "After the second refresh");

  const log = await rest.events(await rest.login(alice.email), workspace.id, startSeq);
  await until(() => client.lastSeq(workspace.id) === log.latestSeq, "the last event");
  assert.deepEqual(received, log.events, "every event once, in order, across two token refreshes");
  assert.equal(recording.log.attempts.length, 1, "the connection was never dropped");
  assert.deepEqual(states, ["connecting", "open"]);
  const authentications = recording.log.sent.filter((frame) => frame.type === "AUTHENTICATE");
  assert.ok(authentications.length >= 3, "a fresh AUTHENTICATE before each expiry");
  assert.equal(new Set(authentications.map((frame) => frame.data.token)).size, authentications.length);
  await client.disconnect();

  // A provider whose first token has expired meanwhile: refused with 4401, asked again, connected.
  assert.ok(provided >= 3);
  let calls = 0;
  const second = recordingWebSocket();
  const late = new TodoWebSocketClient({
    url: serverUrl(),
    token: async () => (++calls === 1 ? expired : rest.login(alice.email)),
    WebSocket: second.WebSocket,
    reconnect: { floorMs: 50, baseMs: 50, capMs: 200 },
  });
  const lateReceived = recordLoggedEvents(late);
  await late.connect();
  assert.equal(calls, 2);
  assert.deepEqual(
    second.log.attempts.map((a) => a.code),
    [4401, null],
  );
  await rest.createTask(await rest.login(alice.email), workspace.id, "Seen by the late client");
  await until(() => lateReceived.length === 1, "an event on the late client");
  await late.disconnect();
});
