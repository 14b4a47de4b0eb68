// Run in a fresh project that installed the packed `taskroom-client` and `ws`: a user signs up over REST,
// creates a workspace, connects with the package's client and receives the TASK_CREATED of a task it
// creates over REST. Prints one JSON line with what it saw; any failure exits non-zero.
import { randomUUID } from "node:crypto";
import TodoWebSocketClient, { STATES, TaskroomStore } from "taskroom-client";
import { TaskroomStore as StoreFromItsPath } from "taskroom-client/store";

const base = process.env.TASKROOM_URL;
if (!base) throw new Error("TASKROOM_URL is not set");

async function rest(method, path, { token, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

const globalWebSocket = typeof globalThis.WebSocket;
const { accessToken } = await rest("POST", "/auth/register", {
  body: { email: `npm-${randomUUID()}@example.com`, password: "correct horse battery", name: "Npm" },
});
const workspace = await rest("POST", "/workspaces", { token: accessToken, body: { name: "From npm" } });

// No WebSocket option: on Node 20 the client finds `ws` by itself.
const client = new TodoWebSocketClient({ url: base, token: () => accessToken, workspaceIds: [workspace.id] });
const received = new Promise((resolve) => client.onTaskCreated((data, event) => resolve({ data, event })));
await client.connect();
const task = await rest("POST", `/workspaces/${workspace.id}/tasks`, { token: accessToken, body: { title: "Packed" } });
const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no TASK_CREATED within 15 s")), 15000));
const { data, event } = await Promise.race([received, timeout]);
await client.disconnect();

// The offline store, from the same package: it opens the workspace and sends a task of its own.
const store = new TaskroomStore({ url: base, token: accessToken });
const replica = await store.open(workspace.id);
await store.createTask(workspace.id, { title: "Stored" });
const deadline = Date.now() + 15000;
while (store.pendingCount > 0 || !replica.tasks.some((t) => t.title === "Stored" && !t.pending)) {
  if (Date.now() > deadline) throw new Error("the store did not send its task within 15 s");
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await store.close();
console.log(
  JSON.stringify({
    node: process.versions.node,
    globalWebSocket,
    states: STATES,
    createdId: task.id,
    receivedId: data.task.id,
    receivedTitle: data.task.title,
    seq: event?.seq ?? null,
    storeExportsAgree: TaskroomStore === StoreFromItsPath,
    storeTitles: replica.tasks.map((t) => t.title),
  }),
);
