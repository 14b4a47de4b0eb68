// Two stock y-websocket providers, each on its own Taskroom node, edit one task description at
// once — interleaved inserts and deletes, one of them offline for a while — and must converge.
// Usage: node converge.mjs <serverUrlA> <serverUrlB> <taskId> <tokenA> <tokenB>
// Prints {"a": text, "b": text} on success; exits 1 with a message otherwise.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const [serverA, serverB, taskId, tokenA, tokenB] = process.argv.slice(2)
const deadline = setTimeout(() => fail('timed out'), 30_000)

function fail (message) {
  console.error(message)
  process.exit(1)
}

function client (server, token) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(server, `${taskId}/doc`, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  provider.on('connection-error', () => {})
  return { doc, text: doc.getText('description'), provider }
}

function synced (c) {
  return new Promise((resolve) => {
    if (c.provider.synced) return resolve()
    const onSync = (state) => {
      if (state) {
        c.provider.off('sync', onSync)
        resolve()
      }
    }
    c.provider.on('sync', onSync)
  })
}

function until (predicate) {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setTimeout(check, 20))
    check()
  })
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const a = client(serverA, tokenA)
const b = client(serverB, tokenB)
await Promise.all([synced(a), synced(b)])
const seed = a.text.toString()
if (b.text.toString() !== seed) fail(`the clients start apart: ${JSON.stringify([seed, b.text.toString()])}`)

// Deletes aim at the seed's X characters, wherever the inserts have pushed them.
const deleteX = (c, last) => {
  const text = c.text.toString()
  const at = last ? text.lastIndexOf('X') : text.indexOf('X')
  if (at >= 0) c.text.delete(at, 1)
}

// Online, at once: each edits without waiting for the other's changes.
for (let round = 0; round < 10; round++) {
  a.text.insert(a.text.length, ` A${round}`)
  b.text.insert(0, `B${round} `)
  if (round % 3 === 0) deleteX(b, true)
  if (round % 4 === 1) deleteX(a, false)
  await pause(10)
}

// B goes offline; both go on editing; B comes back.
b.provider.disconnect()
for (let round = 0; round < 5; round++) {
  a.text.insert(0, `a${round}|`)
  b.text.insert(b.text.length, `|b${round}`)
  await pause(10)
}
const seedWord = b.text.toString().indexOf('seed')
b.text.delete(seedWord, 'seed'.length)
deleteX(a, false)
b.provider.connect()
await synced(b)

await until(() => a.text.toString() === b.text.toString())
// Let the last changes settle, then check that they still agree.
await pause(300)
await until(() => a.text.toString() === b.text.toString())
const result = { a: a.text.toString(), b: b.text.toString() }
for (const marker of ['A9', 'B9', 'a4|', '|b4', 'A0', 'B0', 'a0|', '|b0']) {
  if (!result.a.includes(marker)) fail(`edit ${marker} is missing: ${JSON.stringify(result)}`)
}
if (result.a.includes('seed')) fail(`the offline delete is missing: ${JSON.stringify(result)}`)
clearTimeout(deadline)
a.provider.destroy()
b.provider.destroy()
console.log(JSON.stringify(result))
process.exit(0)
