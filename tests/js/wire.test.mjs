// What the client puts on the wire and makes of what comes back, against scripted servers whose every
// frame the test chooses: duplicates, gaps, resume, presence after a reconnect, token refresh, dead links.
import assert from "node:assert/strict";
import { test } from "node:test";
import TodoWebSocketClient from "../../clients/js/taskroom.js";
import { authenticating, frame, recordLoggedEvents, recordingWebSocket, scriptedServer, until } from "./support.mjs";

const FAST = { floorMs: 20, baseMs: 20, capMs: 100 };

function created(seq, workspaceId = "W") {
  return frame(
    "TASK_CREATED",
    { workspaceId, task: { id: `t${seq}`, title: `Task ${seq}` }, actorId: "u2" },
    { seq, eventId: `e${seq}` },
  );
}

test("duplicates are dropped; a reconnect resumes from the last seq and sends the last presence again", async () => {
  const authentications = [];
  const presences = [];
  const server = await scriptedServer(
    authenticating(
      (socket, auth) => {
        authentications.push(auth.data);
        socket.on("message", (raw) => {
          const message = JSON.parse(String(raw));
          if (message.type === "USER_PRESENCE") presences.push({ connection: authentications.length, ...message.data });
        });
        if (authentications.length === 1) {
          for (const seq of [1, 2, 2, 1, 3]) socket.send(created(seq));
          setTimeout(() => socket.close(1001, "going away"), 100);
        } else {
          for (const seq of [2, 3, 4]) socket.send(created(seq));
        }
      },
      { workspaces: [{ id: "W", seq: 0 }] },
    ),
  );
  const client = new TodoWebSocketClient({ url: server.url, token: "t", WebSocket: recordingWebSocket().WebSocket, reconnect: FAST });
  const received = recordLoggedEvents(client);
  await client.connect();
  client.updatePresence("W", "away");
  await until(() => received.length === 4, "four distinct events");
  await until(() => presences.length === 2, "the presence again on the second connection");
  assert.deepEqual(
    received.map((event) => event.seq),
    [1, 2, 3, 4],
  );
  assert.deepEqual(authentications[0], { token: "t" });
  assert.deepEqual(authentications[1], { token: "t", resume: { W: 3 } });
  assert.deepEqual(presences, [
    { connection: 1, workspaceId: "W", status: "away" },
    { connection: 2, workspaceId: "W", status: "away" },
  ]);
  await client.disconnect();
  await server.close();
});

test("with workspaceIds, a reconnect asks for them and for every workspace joined since", async () => {
  const authentications = [];
  const server = await scriptedServer(
    authenticating((socket, auth) => {
      authentications.push(auth.data);
      if (authentications.length === 1) {
        socket.send(created(7, "Later"));
        setTimeout(() => socket.close(1013, "try again later"), 50);
      }
    }),
  );
  const client = new TodoWebSocketClient({ url: server.url, token: "t", workspaceIds: ["A"], reconnect: FAST, WebSocket: recordingWebSocket().WebSocket });
  await client.connect();
  await until(() => authentications.length === 2, "the second AUTHENTICATE");
  assert.deepEqual(authentications[0], { token: "t", workspaceIds: ["A"] });
  assert.deepEqual(authentications[1], { token: "t", workspaceIds: ["A", "Later"], resume: { Later: 7 } });
  await client.disconnect();
  await server.close();
});

test("a seq that skips ahead is held while a SYNC_REQUEST fills the gap, so the handlers still see every seq in order", async () => {
  const syncRequests = [];
  const server = await scriptedServer(
    authenticating(
      (socket) => {
        socket.on("message", (raw) => {
          const message = JSON.parse(String(raw));
          if (message.type !== "SYNC_REQUEST") return;
          syncRequests.push(message.data);
          socket.send(created(5)); // live, while the gap is being filled
          const events = [2, 3, 4].map((seq) => JSON.parse(created(seq)));
          socket.send(frame("SYNC_RESPONSE", { workspaceId: "W", events, latestSeq: 5, hasMore: false }, { replyTo: message.id }));
        });
        socket.send(created(1));
        socket.send(created(4));
      },
      { workspaces: [{ id: "W", seq: 0 }] },
    ),
  );
  const client = new TodoWebSocketClient({ url: server.url, token: "t", WebSocket: recordingWebSocket().WebSocket });
  const received = recordLoggedEvents(client);
  await client.connect();
  await until(() => received.length === 5, "five events");
  assert.deepEqual(
    received.map((event) => event.seq),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(syncRequests, [{ workspaceId: "W", sinceSeq: 1 }]);
  await client.disconnect();
  await server.close();
});

test("the token provider is asked again before expiry and the fresh token goes on the open socket", async () => {
  const authentications = [];
  const server = await scriptedServer((socket) => {
    socket.on("message", (raw) => {
      const message = JSON.parse(String(raw));
      if (message.type !== "AUTHENTICATE") return;
      authentications.push(message.data.token);
      // Each token lives one second on the server's clock.
      const expiresAt = new Date(Date.now() + 1000).toISOString();
      socket.send(frame("AUTHENTICATE", { success: true, userId: "u1", expiresAt, workspaces: [], denied: [] }, { replyTo: message.id }));
    });
  });
  let issued = 0;
  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url: server.url, token: async () => `token-${++issued}`, WebSocket: recording.WebSocket });
  await client.connect();
  await until(() => authentications.length === 3, "two refreshes");
  assert.deepEqual(authentications, ["token-1", "token-2", "token-3"]);
  assert.equal(recording.log.attempts.length, 1, "refreshed on the same connection");
  assert.equal(client.state, "open");
  await client.disconnect();
  await server.close();
});

test("a link that stays silent after a PING is given up and resumed on a new connection", async () => {
  const pings = [];
  let connections = 0;
  const server = await scriptedServer(
    authenticating((socket) => {
      connections += 1;
      const answering = connections > 1; // the first connection goes dead; the second answers
      socket.on("message", (raw) => {
        const message = JSON.parse(String(raw));
        if (message.type !== "PING") return;
        pings.push(connections);
        if (answering) socket.send(frame("PONG", { serverTime: new Date().toISOString() }, { replyTo: message.id }));
      });
    }),
  );
  const states = [];
  const client = new TodoWebSocketClient({
    url: server.url,
    token: "t",
    heartbeatMs: 150,
    pongTimeoutMs: 1000, // generous: a slow machine must not make an answered PING look lost
    reconnect: FAST,
    WebSocket: recordingWebSocket().WebSocket,
  });
  client.onStateChange((state, detail) => states.push([state, detail.code]));
  await client.connect();
  await until(() => pings.filter((c) => c === 2).length >= 3, "three answered PINGs on the second connection");
  assert.equal(connections, 2, "an answered PING keeps the connection");
  assert.deepEqual(states.slice(0, 3), [
    ["connecting", undefined],
    ["open", undefined],
    ["reconnecting", 4000],
  ]);
  await client.disconnect();
  await server.close();
});
