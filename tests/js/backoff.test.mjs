// Reconnect back-off: the pure delay function, and the client against servers that refuse everything.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import TodoWebSocketClient, { backoffDelay, DEFAULT_RECONNECT, toWebSocketUrl } from "../../clients/js/taskroom.js";
import { authenticating, recordingWebSocket, scriptedServer, serverUrl, sleep, until } from "./support.mjs";

describe("backoffDelay", () => {
  const policy = { floorMs: 100, baseMs: 200, capMs: 5000 };

  test("the smallest draw is the floor, whatever the attempt", () => {
    for (let attempt = 0; attempt < 40; attempt += 1) assert.equal(backoffDelay(attempt, policy, () => 0), 100);
  });

  test("the largest draw doubles per attempt from floor + base and stops at the cap", () => {
    const largest = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, policy, () => 1));
    assert.deepEqual(largest, [300, 500, 900, 1700, 3300, 5000, 5000, 5000]);
    assert.equal(backoffDelay(1e9, policy, () => 1), 5000, "a huge attempt count neither overflows nor passes the cap");
  });

  test("full jitter: a draw lands anywhere between the floor and that attempt's ceiling", () => {
    assert.equal(backoffDelay(2, policy, () => 0.5), 100 + 0.5 * 800);
    for (let i = 0; i < 1000; i += 1) {
      const delay = backoffDelay(i % 12, policy);
      assert.ok(delay >= 100 && delay <= 5000, `delay ${delay} out of [floor, cap]`);
    }
  });

  test("the defaults have a floor, so the first reconnect is never immediate", () => {
    assert.ok(DEFAULT_RECONNECT.floorMs > 0);
    assert.equal(backoffDelay(0, undefined, () => 0), DEFAULT_RECONNECT.floorMs);
    assert.ok(backoffDelay(100, undefined, () => 1) <= DEFAULT_RECONNECT.capMs);
  });
});

describe("toWebSocketUrl", () => {
  test("a ws(s) URL is kept; an http(s) base gets the endpoint's path", () => {
    assert.equal(toWebSocketUrl("wss://example.com/api/v1/ws"), "wss://example.com/api/v1/ws");
    assert.equal(toWebSocketUrl("ws://example.com:8000/custom"), "ws://example.com:8000/custom");
    assert.equal(toWebSocketUrl("http://127.0.0.1:8000"), "ws://127.0.0.1:8000/api/v1/ws");
    assert.equal(toWebSocketUrl("https://example.com/"), "wss://example.com/api/v1/ws");
    assert.equal(toWebSocketUrl("https://example.com/taskroom/api/v1"), "wss://example.com/taskroom/api/v1/ws");
    assert.equal(toWebSocketUrl("https://example.com/api/v1/ws/"), "wss://example.com/api/v1/ws");
    assert.equal(toWebSocketUrl("/api/v1/ws", "https://example.com/board"), "wss://example.com/api/v1/ws");
  });

  test("anything else is refused with a clear error", () => {
    assert.throws(() => toWebSocketUrl("ftp://example.com"), /ws:, wss:, http: or https:/);
    assert.throws(() => toWebSocketUrl("not a url"), /not a URL/);
  });
});

// Attempts a client makes against `url` until it has made `count`, then the recorded times.
async function attemptsAgainst(url, token, policy, count) {
  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url, token, WebSocket: recording.WebSocket, reconnect: policy });
  const states = [];
  client.onStateChange((state, detail) => states.push({ state, ...detail }));
  let settled = false;
  const connecting = client.connect().then(
    () => (settled = "resolved"),
    () => (settled = "rejected"),
  );
  await until(() => recording.log.attempts.filter((a) => a.closedAt !== null).length >= count, `${count} attempts`);
  await client.disconnect();
  await connecting;
  const made = recording.log.attempts.length;
  await sleep(policy.capMs + 100);
  assert.equal(recording.log.attempts.length, made, "no attempt after disconnect()");
  return { attempts: recording.log.attempts, states, settled, client };
}

function assertFloorRespected(attempts, floorMs) {
  for (let i = 1; i < attempts.length; i += 1) {
    const waited = attempts[i].startedAt - attempts[i - 1].closedAt;
    // 2 ms for the timer clock's rounding.
    assert.ok(waited >= floorMs - 2, `attempt ${i} came ${waited.toFixed(1)} ms after a close (floor ${floorMs})`);
  }
}

// Concurrent: each case mostly waits on its timers, and a busy loop only makes a timer later, never earlier.
describe("reconnecting against a server that refuses everything", { concurrency: true }, () => {
  const policy = { floorMs: 120, baseMs: 40, capMs: 300, healthyAfterMs: 60000 };

  // 4401 is not among them: three refused connects stop the client (unauthorized.test.mjs).
  for (const code of [1008, 1011, 1013, 4408]) {
    test(`a close ${code} straight after accepting: every attempt waits at least the floor`, async () => {
      const server = await scriptedServer((socket) => socket.close(code, "refused"));
      try {
        let tokens = 0;
        const provider = () => `token-${++tokens}`;
        const { attempts, states, settled } = await attemptsAgainst(server.url, provider, policy, 5);
        assertFloorRespected(attempts, policy.floorMs);
        assert.ok(attempts.every((a) => a.code === code || a === attempts.at(-1)));
        assert.equal(tokens, attempts.length, "the token provider is asked on every connect");
        assert.equal(settled, "rejected", "connect() never resolved, and disconnect() ended it");
        assert.deepEqual([...new Set(states.map((s) => s.state))], ["connecting", "closed"]);
      } finally {
        await server.close();
      }
    });
  }

  test("an HTTP refusal of the upgrade (403) waits at least the floor too", async () => {
    const server = await scriptedServer(() => {}, { verifyClient: () => false });
    try {
      const { attempts } = await attemptsAgainst(server.url, "token", policy, 5);
      assertFloorRespected(attempts, policy.floorMs);
      assert.ok(attempts.slice(0, -1).every((a) => a.code === 1006));
    } finally {
      await server.close();
    }
  });

  test("a server that authenticates and then drops at once does not reset the back-off", async () => {
    const server = await scriptedServer(authenticating((socket) => socket.close(1013, "try again later")));
    try {
      const { attempts, states } = await attemptsAgainst(server.url, "token", policy, 5);
      assertFloorRespected(attempts, policy.floorMs);
      const retries = states.filter((s) => s.state === "reconnecting").map((s) => s.attempt);
      assert.ok(retries.length >= 3, `reconnects: ${retries}`);
      assert.deepEqual(
        retries,
        retries.map((_, i) => i + 1),
        "the attempt count keeps growing: a connection dropped at once is not a healthy one",
      );
    } finally {
      await server.close();
    }
  });

  test("a Taskroom node refusing every token (4401) with a provider: attempts keep to the floor, three at most", async () => {
    let calls = 0;
    const provider = async () => `not-a-token-${++calls}`;
    const recording = recordingWebSocket();
    const client = new TodoWebSocketClient({ url: serverUrl(), token: provider, WebSocket: recording.WebSocket, reconnect: policy });
    const states = [];
    client.onStateChange((state, detail) => states.push({ state, ...detail }));
    await assert.rejects(client.connect(), { code: "UNAUTHORIZED" });
    const { attempts } = recording.log;
    assertFloorRespected(attempts, policy.floorMs);
    assert.deepEqual(
      attempts.map((a) => a.code),
      [4401, 4401, 4401],
    );
    assert.equal(calls, 3);
    const retries = states.filter((s) => s.state === "connecting" && s.attempt !== undefined);
    assert.ok(retries.length === 2 && retries.every((s) => s.code === 4401 && s.delayMs >= policy.floorMs));
    assert.deepEqual(states.at(-1).state, "unauthorized");
  });

  test("a string token refused with 4401 stops the client: connect() rejects and nothing is retried", async () => {
    const recording = recordingWebSocket();
    const client = new TodoWebSocketClient({ url: serverUrl(), token: "not-a-token", WebSocket: recording.WebSocket });
    await assert.rejects(client.connect(), { code: "UNAUTHORIZED" });
    assert.equal(client.state, "unauthorized");
    await sleep(DEFAULT_RECONNECT.floorMs + 200);
    assert.equal(recording.log.attempts.length, 1);
  });
});
