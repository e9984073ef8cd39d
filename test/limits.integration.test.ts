/**
 * Limits and malformed input through real sockets: over-size (4413), floods and too
 * many connections (4429), slow readers dropped, malformed messages closed with 4400
 * while the server and every other client keep working; bad REST input answered in
 * the contract's error format with nothing written.
 */
import * as encoding from 'lib0/encoding'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fieldsOf, itemsOf, notesOf } from '../shared/docLayout.js'
import { checkUpdateBounds } from '../server/limits/updateBounds.js'
import { LIMITS, MESSAGE } from '../shared/protocol.js'
import {
  type Api,
  type SeededUsers,
  type TestServer,
  presenceWatcher,
  provider,
  sample,
  startSeeded,
  startServer,
  synced,
  until,
} from './helpers/server.js'
import { RawClient, awarenessMessage, syncStep1, updateMessage } from './helpers/trust.js'

const TEST_LIMITS = {
  MAX_MESSAGE_BYTES: 64 * 1024,
  MAX_MESSAGES_PER_SECOND: 50,
  MESSAGE_BURST: 100,
  MAX_CONNECTIONS_PER_USER: 5,
  MAX_BODY_BYTES: 32 * 1024,
}

/** A logger that keeps what the server logs at error level. */
function errorLog(): { logger: pino.Logger; errors: string[] } {
  const errors: string[] = []
  return { errors, logger: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }) }
}

let t: TestServer
let users: SeededUsers
let owner: Api
let member: Api
let member2: Api
let viewer: Api
let dealId: string
let log: ReturnType<typeof errorLog>

beforeAll(async () => {
  log = errorLog()
  ;({
    t,
    users,
    api: { owner, member, member2, viewer },
  } = await startSeeded(['owner', 'member', 'member2', 'viewer'], { limits: TEST_LIMITS, logger: log.logger }))
  dealId = (await owner.request('POST', '/api/records/deals', { title: 'Limits', amount: 1 })).body.id
})
afterAll(async () => {
  expect(log.errors).toEqual([])
  await t.close()
})

const dealUrl = (api: Api) => `${t.wsUrl}/sync/acme/deals/${dealId}?token=${api.token}`

async function closeCodeAfter(api: Api, messages: (Uint8Array | string)[]): Promise<number> {
  const raw = new RawClient(dealUrl(api))
  await raw.opened
  for (const m of messages) raw.ws.send(m)
  return raw.closed
}

/** Two healthy providers still exchange an edit and agree. */
async function healthyClientsStillSync(marker: string): Promise<void> {
  const a = provider(t.wsUrl, `acme/deals/${dealId}`, owner.token)
  const b = provider(t.wsUrl, `acme/deals/${dealId}`, owner.token)
  await Promise.all([a, b].map(synced))
  notesOf(a.doc).insert(0, marker)
  await until(() => notesOf(b.doc).toString().startsWith(marker), 'an edit from a healthy client')
  a.destroy()
  b.destroy()
}

describe('limits', () => {
  it('[L1] an over-size message is closed with 4413', async () => {
    expect(await closeCodeAfter(member, [new Uint8Array(TEST_LIMITS.MAX_MESSAGE_BYTES + 1)])).toBe(4413)
  })

  it('[L2] a flood of messages is closed with 4429', async () => {
    const query = new Uint8Array([MESSAGE.queryAwareness])
    expect(
      await closeCodeAfter(
        member,
        Array.from({ length: TEST_LIMITS.MESSAGE_BURST * 3 }, () => query),
      ),
    ).toBe(4429)
    await healthyClientsStillSync('after flood ')
  })

  it('[L3] one connection more than a user may hold is closed with 4429', async () => {
    const clients = Array.from({ length: TEST_LIMITS.MAX_CONNECTIONS_PER_USER }, () => new RawClient(dealUrl(member2)))
    await Promise.all(clients.map((c) => c.opened))
    await Promise.all(clients.map((c) => c.settled()))
    const extra = new RawClient(dealUrl(member2))
    expect(await extra.closed).toBe(4429)
    clients[0]!.close()
    await until(() => t.server.sync.connectionCount <= TEST_LIMITS.MAX_CONNECTIONS_PER_USER - 1, 'the closed connection released')
    const again = new RawClient(dealUrl(member2))
    await again.opened
    await again.settled()
    expect(again.isOpen).toBe(true)
    ;[...clients, again].forEach((c) => c.close())
  })
})

describe('malformed input', () => {
  const base = new Y.Doc()
  fieldsOf(base).set('title', 'x')
  const valid = updateMessage(Y.encodeStateAsUpdate(base))
  const varint = (n: number) => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, n)
    return encoding.toUint8Array(e)
  }
  /** A GC struct at an absurd clock: Yjs would accept it and keep the clock forever. */
  const absurdClock = (() => {
    const e = encoding.createEncoder()
    for (const n of [1, 1, 12345, 2 ** 40]) encoding.writeVarUint(e, n)
    encoding.writeUint8(e, 0)
    encoding.writeVarUint(e, 5)
    encoding.writeVarUint(e, 0)
    return updateMessage(encoding.toUint8Array(e))
  })()
  const brokenUtf8 = (() => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MESSAGE.awareness)
    const inner = encoding.createEncoder()
    for (const n of [1, 42, 1]) encoding.writeVarUint(inner, n)
    encoding.writeVarUint8Array(inner, new Uint8Array([...Buffer.from('{"name":"'), 0xc3, 0x28, ...Buffer.from('"}')]))
    encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
    return encoding.toUint8Array(e)
  })()

  const cases: [string, Uint8Array | string][] = [
    ['a truncated sync message', valid.slice(0, Math.floor(valid.length / 2))],
    ['random bytes', new Uint8Array([0, 2, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])],
    ['an unknown message type', new Uint8Array([7, 1, 2])],
    ['an unknown sync message type', new Uint8Array([MESSAGE.sync, 9, 0])],
    ['an invalid Yjs update', updateMessage(new Uint8Array([3, 200, 1, 9, 9, 9]))],
    ['an oversized varint', new Uint8Array([0, ...Array(12).fill(0xff), 0x01])],
    ['an update with an absurd clock', absurdClock],
    ['broken UTF-8 in awareness', brokenUtf8],
    [
      'a huge awareness state',
      awarenessMessage([{ clientID: 42, clock: 1, json: JSON.stringify({ blob: 'x'.repeat(LIMITS.MAX_AWARENESS_STATE_BYTES) }) }]),
    ],
    [
      'too many awareness client ids',
      awarenessMessage(
        Array.from({ length: LIMITS.MAX_AWARENESS_CLIENTS_PER_CONNECTION + 1 }, (_, i) => ({ clientID: 1000 + i, clock: 1, json: '{}' })),
      ),
    ],
    ['a state vector that is not one', new Uint8Array([MESSAGE.sync, 0, ...varint(3), 0xff, 0xff, 0xff])],
    ['a text frame', 'hello'],
  ]

  it.each(cases)('[M1] %s closes that socket with 4400; other clients keep working', async (_what, message) => {
    const bystander = provider(t.wsUrl, `acme/deals/${dealId}`, member.token)
    await synced(bystander)
    expect(await closeCodeAfter(viewer, [message])).toBe(4400)
    expect(bystander.wsconnected).toBe(true)
    bystander.destroy()
  })

  it('[M2] after all of them the server serves a healthy client correctly', async () => {
    await healthyClientsStillSync('after malformed ')
    const raw = new RawClient(dealUrl(member))
    await raw.opened
    raw.send(syncStep1(new Y.Doc()))
    await until(() => raw.received.length >= 2, 'sync step 1 and 2 from the server')
    raw.close()
  })
})

/**
 * An update that Yjs integrates half-way and then throws on: "HALF" goes into the notes,
 * then an item whose parent is itself (the kind of struct about one in a hundred
 * bit-flipped updates contains) throws inside Y.applyUpdate, after the notes were changed
 * and the change emitted. The structural pre-check refuses it before it reaches the document.
 */
function halfApplyingUpdate(client: number): Uint8Array {
  const e = encoding.createEncoder()
  for (const n of [1, 2, client, 0]) encoding.writeVarUint(e, n)
  encoding.writeUint8(e, 4) // ContentString under a named root
  encoding.writeVarUint(e, 1)
  encoding.writeVarString(e, 'notes')
  encoding.writeVarString(e, 'HALF')
  encoding.writeUint8(e, 8 | 0x20) // ContentAny with a key, parent given by id: its own
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 4)
  encoding.writeVarString(e, 'x')
  encoding.writeVarUint(e, 1)
  encoding.writeAny(e, 1)
  encoding.writeVarUint(e, 0) // empty delete set
  return encoding.toUint8Array(e)
}

describe('updates that throw half-way', () => {
  it('[M3] an update that would throw inside Y.applyUpdate closes only its sender (4400); none of it is persisted or broadcast and the other clients stay connected', async () => {
    const id = (await owner.request('POST', '/api/records/invoices', { items: [{ description: 'a', quantity: 1, unitPrice: 1 }] })).body
      .id as string
    const docName = `acme/invoices/${id}`
    const observer = provider(t.wsUrl, docName, owner.token)
    await synced(observer)
    notesOf(observer.doc).insert(0, 'before')
    await until(async () => (await owner.request('GET', `/api/records/invoices/${id}`)).body.notes === 'before', 'the notes persisted')
    const client = 4242
    const bad = halfApplyingUpdate(client)
    expect(checkUpdateBounds(bad)).toMatchObject({ ok: false })
    const logged = (t.server.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?').get(docName) as { n: number }).n

    const observerCloses: number[] = []
    observer.on('connection-close', (event) => event && observerCloses.push(event.code))

    const sender = new RawClient(`${t.wsUrl}/sync/${docName}?token=${member.token}`)
    await sender.opened
    sender.send(updateMessage(bad))
    expect(await sender.closed).toBe(4400)
    expect(observerCloses).toEqual([])
    expect(observer.wsconnected).toBe(true)
    expect(Y.decodeStateVector(Y.encodeStateVector(observer.doc)).has(client)).toBe(false)
    expect(notesOf(observer.doc).toString()).toBe('before')
    expect(itemsOf(observer.doc).length).toBe(1)
    expect((t.server.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?').get(docName) as { n: number }).n).toBe(logged)
    // ... and works as before.
    notesOf(observer.doc).insert(0, 'still editing, ')
    await until(
      async () => (await owner.request('GET', `/api/records/invoices/${id}`)).body.notes === 'still editing, before',
      'a later edit persisted',
    )
    expect(observerCloses).toEqual([])
    observer.destroy()
  })
})

describe('slow consumer', () => {
  it('[L4] a reader that stops reading is dropped past the high-water mark; the others keep going', async () => {
    const {
      t: s,
      api: { owner: a },
    } = await startSeeded(['owner'], {
      limits: { MAX_BUFFERED_BYTES: 256 * 1024, MAX_MESSAGES_PER_SECOND: 100_000, MESSAGE_BURST: 100_000 },
    })
    try {
      const docName = 'acme/index/deals'
      const slow = new RawClient(`${s.wsUrl}/sync/${docName}?token=${a.token}`)
      await slow.opened
      await slow.settled()
      ;(slow.ws as unknown as { _socket: { pause(): void } })._socket.pause()
      const fast = provider(s.wsUrl, docName, a.token)
      await synced(fast)
      const connections = s.server.sync.connectionCount
      let sent = 0
      const payload = 'y'.repeat(LIMITS.MAX_AWARENESS_STATE_BYTES - 200)
      await until(() => {
        if (s.server.sync.connectionCount < connections) return true
        if (sent > 4000) throw new Error('slow consumer never dropped')
        for (let i = 0; i < 20; i++) fast.awareness.setLocalStateField('blob', `${sent++}${payload}`)
        return false
      }, 'the slow reader dropped')
      expect(fast.wsconnected).toBe(true)
      const metrics = await (await fetch(`${s.url}/metrics`)).text()
      expect(sample(metrics, 'accord_sockets_dropped_total', { reason: 'slow' })).toBe(1)
      expect(sample(metrics, 'accord_sockets_dropped_total', { reason: 'unresponsive' })).toBe(0)
      fast.awareness.setLocalStateField('blob', 'small')
      const check = provider(s.wsUrl, docName, a.token)
      await synced(check)
      await until(
        () => [...check.awareness.getStates().values()].some((st) => (st as { blob?: string }).blob === 'small'),
        'presence after the drop',
      )
      ;[fast, check].forEach((p) => p.destroy())
      slow.close()
    } finally {
      await s.close()
    }
  })
})

describe('vanished clients', () => {
  it('[L5] a socket that answers no ping is dropped after two ping intervals, its presence with it; a quiet socket that answers stays', async () => {
    const PING_INTERVAL_MS = 200
    const s = await startServer({ limits: { PING_INTERVAL_MS } })
    try {
      const { url, watcher } = await presenceWatcher(s)
      // `gone` stands for a client whose machine went away: it never answers a ping again.
      const gone = new RawClient(url, { autoPong: false })
      const quiet = new RawClient(url)
      await Promise.all([gone.opened, quiet.opened])
      const openedAt = Date.now()
      gone.send(awarenessMessage([{ clientID: 4242, clock: 1, json: JSON.stringify({ user: { name: 'Gone' } }) }]))
      await until(() => watcher.awareness.getStates().has(4242), 'the vanished client’s presence')
      let pingsAnswered = 0
      quiet.ws.on('ping', () => pingsAnswered++)

      expect(await gone.closed).toBe(1006)
      expect(Date.now() - openedAt).toBeGreaterThanOrEqual(2 * PING_INTERVAL_MS)
      await until(() => !watcher.awareness.getStates().has(4242), 'the vanished client’s presence removed')
      await until(() => pingsAnswered >= 3, 'three pings answered by the quiet socket')
      expect(quiet.isOpen).toBe(true)
      expect(watcher.wsconnected).toBe(true)
      expect(s.server.sync.connectionCount).toBe(2)
      const metrics = await (await fetch(`${s.url}/metrics`)).text()
      expect(sample(metrics, 'accord_sockets_dropped_total', { reason: 'unresponsive' })).toBe(1)
      watcher.destroy()
      quiet.close()
    } finally {
      await s.close()
    }
  })
})

describe('bad REST input', () => {
  const counts = () => ({
    records: (t.server.db.prepare('SELECT COUNT(*) AS n FROM records').get() as { n: number }).n,
    updates: (t.server.db.prepare('SELECT COUNT(*) AS n FROM doc_updates').get() as { n: number }).n,
  })
  const cases: [string, string, string, unknown, Record<string, string>, number][] = [
    ['wrong JSON', 'POST', '/api/records/deals', '{"title": ', { 'content-type': 'application/json' }, 400],
    ['a JSON array', 'POST', '/api/records/deals', '[1,2]', { 'content-type': 'application/json' }, 400],
    ['a JSON string', 'POST', '/api/records/deals', '"deal"', { 'content-type': 'application/json' }, 400],
    ['not JSON at all', 'POST', '/api/records/deals', 'title=x', { 'content-type': 'text/plain' }, 400],
    ['a wrong type', 'POST', '/api/records/deals', JSON.stringify({ title: 5 }), { 'content-type': 'application/json' }, 400],
    [
      'an unknown field',
      'POST',
      '/api/records/deals',
      JSON.stringify({ title: 'x', bogus: 1 }),
      { 'content-type': 'application/json' },
      400,
    ],
    [
      'an authority field',
      'POST',
      '/api/records/invoices',
      JSON.stringify({ number: 'INV-1' }),
      { 'content-type': 'application/json' },
      400,
    ],
    [
      'an unknown collection',
      'POST',
      '/api/records/spaceships',
      JSON.stringify({ title: 'x' }),
      { 'content-type': 'application/json' },
      404,
    ],
    [
      'an over-size body',
      'POST',
      '/api/records/deals',
      JSON.stringify({ title: 'x'.repeat(TEST_LIMITS.MAX_BODY_BYTES) }),
      { 'content-type': 'application/json' },
      413,
    ],
    [
      'a PATCH with a wrong type',
      'PATCH',
      '/api/records/deals/:id',
      JSON.stringify({ amount: 'lots' }),
      { 'content-type': 'application/json' },
      400,
    ],
    [
      'a PATCH with a negative amount',
      'PATCH',
      '/api/records/deals/:id',
      JSON.stringify({ amount: -1 }),
      { 'content-type': 'application/json' },
      400,
    ],
    [
      'a login with wrong types',
      'POST',
      '/api/auth/login',
      JSON.stringify({ email: 5, password: [] }),
      { 'content-type': 'application/json' },
      400,
    ],
  ]

  it.each(cases)(
    '[R1] %s is answered in the contract error format and nothing is written',
    async (_what, method, path, body, headers, status) => {
      const before = counts()
      const res = await owner.request(method, path.replace(':id', dealId), body as string, headers)
      expect(res.status).toBe(status)
      expect(res.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } })
      expect(counts()).toEqual(before)
    },
  )
})
