// Tokens that cannot work (PROTOCOL.md §4): against a real node, the client stops with the state
// `unauthorized` and the close code instead of retrying forever.
import assert from "node:assert/strict";
import { test } from "node:test";
import TodoWebSocketClient, { MAX_REFUSED_CONNECTS, TokenUnavailableError } from "../../clients/js/taskroom.js";
import { Rest, recordingWebSocket, serverUrl, sleep, until } from "./support.mjs";

const FAST = { floorMs: 50, baseMs: 50, capMs: 200 };

function watched(options) {
  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url: serverUrl(), WebSocket: recording.WebSocket, reconnect: FAST, ...options });
  const states = [];
  client.onStateChange((state, detail) => states.push({ state, ...detail }));
  return { client, states, attempts: recording.log.attempts };
}

test("a string token refused once: unauthorized with the close code, and no second attempt", async () => {
  const { client, states, attempts } = watched({ token: "not-a-token" });
  await assert.rejects(client.connect(), { code: "UNAUTHORIZED" });
  assert.equal(client.state, "unauthorized");
  assert.equal(states.at(-1).state, "unauthorized");
  assert.equal(states.at(-1).code, 4401);
  await sleep(FAST.capMs + 200);
  assert.equal(attempts.length, 1);
});

test("a provider that hands back the refused token: asked again once, then unauthorized", async () => {
  let calls = 0;
  const { client, states, attempts } = watched({ token: () => (calls++, "the-same-bad-token") });
  await assert.rejects(client.connect(), { code: "UNAUTHORIZED" });
  assert.equal(calls, 2, "asked again after the 4401");
  assert.equal(attempts.length, 1, "the refused token is never sent again");
  assert.deepEqual(
    states.map((s) => s.state),
    ["connecting", "connecting", "unauthorized"],
  );
  assert.equal(states.at(-1).code, 4401);
});

test("three connects in a row refused: unauthorized, even with a new token each time", async () => {
  let calls = 0;
  const { client, states, attempts } = watched({ token: async () => `bad-token-${++calls}` });
  await assert.rejects(client.connect(), /3 connects in a row/);
  assert.equal(MAX_REFUSED_CONNECTS, 3);
  assert.equal(calls, 3);
  assert.deepEqual(
    attempts.map((a) => a.code),
    [4401, 4401, 4401],
  );
  assert.equal(states.at(-1).state, "unauthorized");
  assert.equal(states.at(-1).code, 4401);
});

test("a connect that authenticates ends the row: two refusals, then a good token opens", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  let calls = 0;
  const { client, attempts } = watched({ token: async () => (++calls <= 2 ? `bad-token-${calls}` : alice.token) });
  await client.connect();
  assert.equal(client.state, "open");
  assert.deepEqual(
    attempts.map((a) => a.code),
    [4401, 4401, null],
  );
  await client.disconnect();
  assert.equal(client.state, "closed");
});

test("a provider with no token (TokenUnavailableError) stops the client at once", async () => {
  const { client, states, attempts } = watched({
    token: () => {
      throw new TokenUnavailableError("signed out");
    },
  });
  await assert.rejects(client.connect(), /signed out/);
  assert.equal(client.state, "unauthorized");
  assert.equal(attempts.length, 0);
  assert.deepEqual(
    states.map((s) => s.state),
    ["connecting", "unauthorized"],
  );
});

async function sessionOf(rest, token) {
  const { items } = await rest.ok("GET", "/auth/sessions", { token });
  return items.find((session) => session.current).id;
}

test("a session ended while connected: the provider is told (tokenRefused) and, handing back the same token, the client stops", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  const refusedSeen = [];
  const provider = () => alice.token;
  provider.tokenRefused = (token) => refusedSeen.push(token);
  const { client, states } = watched({ token: provider });
  await client.connect();
  const other = await rest.login(alice.email);
  await rest.ok("DELETE", `/auth/sessions/${await sessionOf(rest, alice.token)}`, { token: other });
  await until(() => client.state === "unauthorized", "the state unauthorized");
  assert.deepEqual(refusedSeen, [alice.token]);
  const last = states.at(-1);
  assert.equal(last.code, 4401, "the close code of the ended session");
  assert.equal(
    states.filter((s) => s.state === "reconnecting").length,
    1,
    "one reconnect asked the provider again, no more",
  );
});

test("a provider that gets a fresh token when told of a refusal: the client reconnects and stays open", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  let current = alice.token;
  const provider = () => current;
  provider.tokenRefused = async (token) => {
    if (token === current) current = await rest.login(alice.email);
  };
  const { client, states } = watched({ token: provider });
  await client.connect();
  const first = current;
  await rest.ok("DELETE", `/auth/sessions/${await sessionOf(rest, first)}`, { token: await rest.login(alice.email) });
  await until(() => client.state === "open" && states.some((s) => s.state === "reconnecting"), "a reconnect");
  assert.notEqual(current, first);
  assert.ok(!states.some((s) => s.state === "unauthorized"));
  await client.disconnect();
});
