/**
 * Holes at the edge of the sync endpoint, through real sockets: awareness client ids bound
 * to their user (presence squatting), percent-encoded document names, the byte budget of
 * sync step-1 replies and the documents one user may hold open.
 */
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { type Api, type TestServer, closeCodeOf, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { RawClient, awarenessMessage } from './helpers/trust.js'

/** A logger that keeps what the server logs at error level. */
function errorLog(): { logger: pino.Logger; errors: string[] } {
  const errors: string[] = []
  return { errors, logger: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }) }
}

let t: TestServer
let log: ReturnType<typeof errorLog>
let owner: Api
let member: Api
let member2: Api
const open: WebsocketProvider[] = []

beforeAll(async () => {
  log = errorLog()
  t = await startServer({ logger: log.logger })
  const users = await seedWorkspace(t.server)
  owner = await login(t.url, users.owner.email, users.owner.password)
  member = await login(t.url, users.member.email, users.member.password)
  member2 = await login(t.url, users.member2.email, users.member2.password)
})
afterAll(async () => {
  open.forEach((p) => p.destroy())
  await t.close()
})

function connect(docName: string, api: Api, doc?: Y.Doc): WebsocketProvider {
  const p = provider(t.wsUrl, docName, api.token, { doc })
  open.push(p)
  return p
}

const syncUrl = (docName: string, api: Api) => `${t.wsUrl}/sync/${docName}?token=${api.token}`

async function newCustomer(name: string): Promise<string> {
  const res = await owner.request('POST', '/api/records/customers', { name })
  expect(res.status).toBe(201)
  return res.body.id as string
}

interface Presence {
  cursor?: number
  user?: { id: string }
}

/** Every state `watcher` is shown for `clientID` from now on (null: removed). */
function statesSeen(watcher: WebsocketProvider, clientID: number): (Presence | null)[] {
  const seen: (Presence | null)[] = []
  watcher.awareness.on('change', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }) => {
    if ([...added, ...updated].includes(clientID)) seen.push((watcher.awareness.getStates().get(clientID) as Presence | undefined) ?? null)
    if (removed.includes(clientID)) seen.push(null)
  })
  return seen
}

/** Another user's socket announces `clientID` with a clock far ahead; resolves once the server read it. */
async function squat(docName: string, api: Api, clientID: number): Promise<RawClient> {
  const raw = new RawClient(syncUrl(docName, api))
  await raw.opened
  raw.send(awarenessMessage([{ clientID, clock: 1000, json: JSON.stringify({ cursor: 666 }) }]))
  await raw.settled()
  return raw
}

describe('presence binding', () => {
  it('[T6] an awareness client id stays its user’s after their socket closed: another user’s claim is ignored, the owner’s reconnect is accepted', async () => {
    const docName = `acme/customers/${await newCustomer('Squat')}`
    const observer = connect(docName, owner)
    const a = connect(docName, member)
    await Promise.all([observer, a].map(synced))
    const id = a.doc.clientID
    const seen = statesSeen(observer, id)
    a.awareness.setLocalStateField('cursor', 1)
    await until(() => seen.at(-1)?.cursor === 1, 'A’s presence at the observer')
    a.disconnect()
    await until(() => seen.at(-1) === null, 'A’s presence removed when its socket closed')

    const squatter = await squat(docName, member2, id)
    expect(squatter.isOpen).toBe(true)
    a.connect()
    await synced(a)
    a.awareness.setLocalStateField('cursor', 2)
    await until(() => seen.some((s) => s?.cursor === 2 || s?.cursor === 666), 'A’s next presence (or the squatter’s) at the observer')
    expect(seen.filter((s) => s !== null && (s.cursor === 666 || s.user?.id !== member.userId))).toEqual([])
    expect(seen.at(-1)).toMatchObject({ cursor: 2, user: { id: member.userId } })
    expect(squatter.isOpen).toBe(true)
    squatter.close()
  })

  it('[T7] the same user’s new socket takes over its own client id while the old one is still open; closing the old one keeps the state', async () => {
    const docName = `acme/customers/${await newCustomer('Takeover')}`
    const observer = connect(docName, owner)
    await synced(observer)
    const id = 4242
    const seen = statesSeen(observer, id)
    const old = new RawClient(syncUrl(docName, member))
    await old.opened
    old.send(awarenessMessage([{ clientID: id, clock: 1, json: JSON.stringify({ cursor: 1 }) }]))
    await until(() => seen.at(-1)?.cursor === 1, 'the first socket’s presence')
    const fresh = new RawClient(syncUrl(docName, member))
    await fresh.opened
    fresh.send(awarenessMessage([{ clientID: id, clock: 2, json: JSON.stringify({ cursor: 2 }) }]))
    await until(() => seen.at(-1)?.cursor === 2, 'the new socket’s presence under the same id')
    old.close()
    await until(() => t.server.registry.get(docName)?.peers.size === 2, 'the old socket gone')
    fresh.send(awarenessMessage([{ clientID: id, clock: 3, json: JSON.stringify({ cursor: 3 }) }]))
    await until(() => seen.at(-1)?.cursor === 3, 'the new socket’s next presence')
    expect(seen).not.toContain(null)
    fresh.close()
  })

  it('[T8] the binding outlives the room unloading and loading again', async () => {
    const docName = `acme/customers/${await newCustomer('Reload')}`
    const a = connect(docName, member)
    await synced(a)
    const id = a.doc.clientID
    a.awareness.setLocalStateField('cursor', 1)
    await until(() => t.server.registry.get(docName)?.awareness.getStates().get(id) !== undefined, 'A’s presence on the server')
    a.disconnect()
    await until(() => t.server.registry.get(docName) === undefined, 'the room unloaded')

    const squatter = await squat(docName, member2, id)
    const observer = connect(docName, owner)
    await synced(observer)
    const seen = statesSeen(observer, id)
    expect(observer.awareness.getStates().has(id)).toBe(false)
    a.connect()
    await synced(a)
    a.awareness.setLocalStateField('cursor', 2)
    await until(() => seen.some((s) => s?.cursor === 2 || s?.cursor === 666), 'A’s next presence (or the squatter’s) at the observer')
    expect(seen.filter((s) => s !== null && s.cursor === 666)).toEqual([])
    expect(seen.at(-1)).toMatchObject({ cursor: 2, user: { id: member.userId } })
    squatter.close()
  })
})

describe('document names', () => {
  it('[T9] a percent-encoded or malformed-encoded document name closes with 4404, never 1011, and logs nothing', async () => {
    const id = await newCustomer('Encoded')
    const encoded = `${id.slice(0, -1)}%${id
      .charCodeAt(id.length - 1)
      .toString(16)
      .toUpperCase()}`
    for (const name of [`acme/customers/${encoded}`, 'acme/customers/%ZZ', `acme%2Fcustomers%2F${id}`, `acme/customers/${id}%2F`]) {
      expect([name, await closeCodeOf(syncUrl(name, member))]).toEqual([name, 4404])
    }
    expect(log.errors).toEqual([])
    const plain = connect(`acme/customers/${id}`, member)
    await synced(plain)
  })
})

describe('step-1 replies and documents per user', () => {
  const LIMITS_HERE = { STEP1_REPLY_BYTES_PER_SECOND: 100 * 1024, STEP1_REPLY_BURST_BYTES: 300 * 1024, MAX_DOCUMENTS_PER_USER: 3 }
  let s: TestServer
  let sOwner: Api
  let sMember: Api
  const mine: WebsocketProvider[] = []
  const connectTo = (docName: string, api: Api) => {
    const p = provider(s.wsUrl, docName, api.token)
    mine.push(p)
    return p
  }
  const createIn = async (body: Record<string, unknown>) => {
    const res = await sOwner.request('POST', '/api/records/customers', body)
    expect(res.status).toBe(201)
    return `acme/customers/${res.body.id as string}`
  }

  beforeAll(async () => {
    s = await startServer({ limits: LIMITS_HERE, logger: log.logger })
    const users = await seedWorkspace(s.server)
    sOwner = await login(s.url, users.owner.email, users.owner.password)
    sMember = await login(s.url, users.member.email, users.member.password)
  })
  afterAll(async () => {
    mine.forEach((p) => p.destroy())
    await s.close()
  })

  it('[L6] step 1 asked in a loop for a large document gets at most the burst plus the byte rate; the socket stays open, the waiting reply still comes, a healthy client syncs and gets edits', async () => {
    const docName = await createIn({ name: 'Big', notes: 'x'.repeat(150_000) })
    const emptyStep1 = new Uint8Array([0, 0, 1, 0]) // sync • step 1 • a state vector of 0 clients
    const step2: { at: number; bytes: number }[] = []
    const startedAt = Date.now()
    const raw = new RawClient(`${s.wsUrl}/sync/${docName}?token=${sMember.token}`)
    raw.ws.on('message', (data: Buffer) => {
      if (data[0] === 0 && data[1] === 1) step2.push({ at: Date.now(), bytes: data.byteLength })
    })
    await raw.opened
    const healthy = connectTo(docName, sOwner)
    while (Date.now() - startedAt < 1500) {
      raw.send(emptyStep1)
      await new Promise((r) => setTimeout(r, 10))
    }
    await raw.settled()
    const endedAt = Date.now()
    const received = step2.filter((m) => m.at <= endedAt).reduce((n, m) => n + m.bytes, 0)
    const bound = LIMITS_HERE.STEP1_REPLY_BURST_BYTES + (LIMITS_HERE.STEP1_REPLY_BYTES_PER_SECOND * (endedAt - startedAt)) / 1000
    expect(received).toBeGreaterThan(100_000)
    expect(received).toBeLessThanOrEqual(bound)
    expect(raw.isOpen).toBe(true)

    await synced(healthy)
    const editor = connectTo(docName, sOwner)
    await synced(editor)
    editor.doc.getText('notes').insert(0, 'edited ')
    await until(() => healthy.doc.getText('notes').toString().startsWith('edited '), 'the edit at the healthy client')
    const before = step2.length
    await until(() => step2.length > before, 'the waiting reply, sent once the budget allows')
    expect(raw.isOpen).toBe(true)
    raw.close()
  })

  it('[L7] a socket to one more document than a user may hold open closes with 4429; the open ones keep working, and a closed one frees its place', async () => {
    const names = await Promise.all([1, 2, 3, 4].map((i) => createIn({ name: `Cap ${i}` })))
    const held = names.slice(0, 3).map((name) => connectTo(name, sMember))
    await Promise.all(held.map(synced))
    const second = new RawClient(`${s.wsUrl}/sync/${names[0]}?token=${sMember.token}`)
    await second.opened
    await second.settled()
    expect(second.closeCode).toBe(null)

    const extra = new RawClient(`${s.wsUrl}/sync/${names[3]}?token=${sMember.token}`)
    await extra.opened.catch(() => undefined)
    await extra.settled()
    expect(extra.closeCode).toBe(4429)

    const editor = connectTo(names[1]!, sOwner)
    await synced(editor)
    editor.doc.getText('notes').insert(0, 'still here ')
    await until(() => held[1]!.doc.getText('notes').toString().startsWith('still here '), 'an edit on a document already open')

    held[2]!.destroy()
    await until(() => (s.server.registry.get(names[2]!)?.peers.size ?? 0) === 0, 'the closed document released')
    const now = connectTo(names[3]!, sMember)
    await synced(now)
    second.close()
  })
})
