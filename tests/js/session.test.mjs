// TaskroomSession (the memory mode, as in Node or on another origin) against a real node whose access
// tokens live five seconds (JWT_TTL_SECONDS=5): it keeps a client signed in, renews once however many ask,
// and reports the end of its session, after which the client stops as unauthorized.
import assert from "node:assert/strict";
import { test } from "node:test";
import TodoWebSocketClient, { TaskroomSession, TokenUnavailableError } from "../../clients/js/taskroom.js";
import WebSocket from "ws";
import { PASSWORD, Rest, recordLoggedEvents, recordingWebSocket, serverUrl, sleep, until } from "./support.mjs";

// A fetch that counts the refreshes it carries.
function countingFetch() {
  const counts = { refresh: 0 };
  const fetchFunction = (url, init) => {
    if (String(url).endsWith("/auth/refresh")) counts.refresh += 1;
    return fetch(url, init);
  };
  return { fetch: fetchFunction, counts };
}

async function signedIn(rest, options = {}) {
  const alice = await rest.register("Alice");
  const session = new TaskroomSession({ url: serverUrl(), ...options });
  const user = await session.login({ email: alice.email, password: PASSWORD });
  assert.equal(user.id, alice.id);
  return { alice, session };
}

test("a client on the session's provider stays open across token lifetimes, then stops when the session is ended", async () => {
  const rest = new Rest(serverUrl());
  const { fetch: counted, counts } = countingFetch();
  const { alice, session } = await signedIn(rest, { fetch: counted });
  assert.equal(session.refreshTokenIn, "memory");
  const workspace = await rest.createWorkspace(await session.getToken());
  const ended = [];
  session.onEnded((detail) => ended.push(detail));

  const recording = recordingWebSocket();
  const client = new TodoWebSocketClient({ url: serverUrl(), token: session.tokenProvider, WebSocket: recording.WebSocket });
  const states = [];
  client.onStateChange((state, detail) => states.push({ state, ...detail }));
  const received = recordLoggedEvents(client);
  await client.connect();
  // Two and a half lifetimes of five seconds.
  await sleep(12500);
  assert.equal(client.state, "open");
  assert.equal(recording.log.attempts.length, 1, "never dropped: each token was replaced on the open socket");
  assert.ok(counts.refresh >= 3, `renewed before each expiry (${counts.refresh} refreshes)`);
  const written = await rest.createTask(await session.getToken(), workspace.id, "After three lifetimes");
  await until(() => received.some((e) => e.data.task?.id === written.id), "the write's event");

  // Another sign-in ends this session: the socket is closed 4401, the renewal refused, and the client stops.
  const { items } = await rest.ok("GET", "/auth/sessions", { token: await session.getToken() });
  const mine = items.find((s) => s.current);
  await rest.ok("DELETE", `/auth/sessions/${mine.id}`, { token: await rest.login(alice.email) });
  await until(() => client.state === "unauthorized", "the state unauthorized");
  assert.deepEqual(
    ended.map((d) => d.reason),
    ["ended"],
  );
  assert.equal(states.at(-1).code, 4401);
  assert.equal(session.signedIn, false);
  await assert.rejects(session.getToken(), TokenUnavailableError);
});

test("renewals asked for at once are one refresh: the refresh token is never spent twice", async () => {
  const rest = new Rest(serverUrl());
  const { fetch: counted, counts } = countingFetch();
  const { session } = await signedIn(rest, { fetch: counted });
  const first = session.accessToken;
  const tokens = await Promise.all([session.refresh(), session.refresh(), session.tokenRefused(first), session.refresh()]);
  assert.equal(counts.refresh, 1);
  assert.equal(tokens[0], tokens[1]);
  assert.notEqual(tokens[0], first);
  assert.equal(session.accessToken, tokens[0]);
  // And the renewed session still works, so no reuse was detected.
  assert.equal((await rest.ok("GET", "/auth/me", { token: await session.refresh() })).name, "Alice");
  session.close();
});

test("logout ends the session on the server, tells onEnded, and a client on the provider stops", async () => {
  const rest = new Rest(serverUrl());
  const { session } = await signedIn(rest);
  const token = session.accessToken;
  const ended = [];
  session.onEnded((detail) => ended.push(detail.reason));
  const client = new TodoWebSocketClient({ url: serverUrl(), token: session.tokenProvider, WebSocket, reconnect: { floorMs: 50, baseMs: 50 } });
  await client.connect();
  await session.logout();
  assert.deepEqual(ended, ["signed-out"]);
  assert.equal((await rest.call("GET", "/auth/me", { token })).status, 401, "the server ended the session");
  await until(() => client.state === "unauthorized", "the state unauthorized");
});

test("a refused sign-in rejects with the server's code and leaves the session signed out", async () => {
  const rest = new Rest(serverUrl());
  const alice = await rest.register("Alice");
  const session = new TaskroomSession({ url: serverUrl() });
  await assert.rejects(session.login({ email: alice.email, password: "wrong password" }), {
    status: 401,
    code: "INVALID_CREDENTIALS",
  });
  assert.equal(session.signedIn, false);
  assert.equal(await session.resume(), null, "nothing to resume");
  await assert.rejects(session.tokenProvider(), TokenUnavailableError);
});

test("register signs in; resume() picks a session up from a refresh token", async () => {
  const rest = new Rest(serverUrl());
  const email = `bob.${Date.now()}@example.test`;
  const session = new TaskroomSession({ url: serverUrl() });
  const user = await session.register({ email, password: PASSWORD, name: "Bob" });
  assert.equal(user.email, email);
  const { refreshToken } = await rest.ok("POST", "/auth/login", { body: { email, password: PASSWORD } });
  const picked = new TaskroomSession({ url: serverUrl(), refreshToken });
  const signedInUsers = [];
  picked.onSignedIn((u) => signedInUsers.push(u.id));
  assert.equal((await picked.resume()).id, user.id);
  assert.deepEqual(signedInUsers, [user.id]);
  assert.equal((await rest.ok("GET", "/auth/me", { token: await picked.getToken() })).email, email);
  session.close();
  picked.close();
});
