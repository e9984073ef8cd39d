/**
 * Property-based fuzzing of the sync endpoint (fast-check): thousands of mutated and
 * random messages from real sockets against a live server. Property: the server only
 * ever answers a socket by keeping it open or closing it with 4400/4413/4429, never logs
 * an internal error, and afterwards still serves healthy clients a correct, valid document.
 */
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { checkRecord } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, itemToYMap, notesOf } from '../shared/docLayout.js'
import { MESSAGE } from '../shared/protocol.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { RawClient, awarenessMessage, editOf, syncStep1, updateMessage } from './helpers/trust.js'

const ALLOWED_CLOSES = new Set([4400, 4413, 4429])
const RUNS = 600
const MAX_MESSAGES_PER_RUN = 60

let t: TestServer
let member: Api
let viewer: Api
let owner: Api
let dealId: string
let invoiceId: string
const errors: string[] = []

beforeAll(async () => {
  t = await startServer({
    limits: { MAX_MESSAGES_PER_SECOND: 1_000_000, MESSAGE_BURST: 1_000_000 },
    logger: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }),
  })
  const users = await seedWorkspace(t.server)
  member = await login(t.url, users.member.email, users.member.password)
  viewer = await login(t.url, users.viewer.email, users.viewer.password)
  owner = await login(t.url, users.owner.email, users.owner.password)
  dealId = (await owner.request('POST', '/api/records/deals', { title: 'Fuzz', amount: 10, stage: 'lead' })).body.id
  invoiceId = (await owner.request('POST', '/api/records/invoices', { items: [{ description: 'a', quantity: 1, unitPrice: 2 }] })).body.id
})
afterAll(() => t.close())

/** Valid messages a real client would send, as seeds for mutation. */
function seeds(): Uint8Array[] {
  const base = new Y.Doc()
  fieldsOf(base).set('title', 'Fuzz')
  notesOf(base).insert(0, 'hello world')
  const edits = [
    editOf(base, (d) => fieldsOf(d).set('amount', 42)),
    editOf(base, (d) => fieldsOf(d).set('stage', 'won')),
    editOf(base, (d) => notesOf(d).insert(3, 'ünïcödé 🎉')),
    editOf(base, (d) => notesOf(d).delete(0, 5)),
    editOf(base, (d) => itemsOf(d).push([itemToYMap({ description: 'x', quantity: 2, unitPrice: 3 })])),
    editOf(base, (d) => authorityOf(d).set('number', 'INV-9')),
    editOf(base, (d) => d.getArray('unknown').push([1, 'two', { three: [3] }])),
    Y.encodeStateAsUpdate(base),
  ]
  const sv = encoding.createEncoder()
  encoding.writeVarUint(sv, MESSAGE.sync)
  encoding.writeVarUint(sv, 2)
  encoding.writeVarUint8Array(sv, Y.encodeStateAsUpdate(base))
  return [
    ...edits.map(updateMessage),
    encoding.toUint8Array(sv),
    syncStep1(base),
    awarenessMessage([{ clientID: 7, clock: 1, json: JSON.stringify({ user: { id: 'someone-else' }, cursor: { index: 3 } }) }]),
    new Uint8Array([MESSAGE.queryAwareness]),
  ]
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'remove'; at: number; length: number }
  | { kind: 'bigVarint'; at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('bigVarint' as const), at: fc.nat() }),
)

function mutate(seed: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = [...seed]
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length
    switch (m.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << m.bit)
        break
      case 'truncate':
        bytes = bytes.slice(0, at)
        break
      case 'insert':
        bytes.splice(at, 0, ...m.bytes)
        break
      case 'remove':
        bytes.splice(at, m.length)
        break
      case 'bigVarint':
        bytes.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
        break
    }
  }
  return new Uint8Array(bytes)
}

describe('fuzz', () => {
  it('[F1] thousands of mutated and random messages never crash the server, and healthy clients still sync correctly', async () => {
    const seedMessages = seeds()
    const message = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seedMessages), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([s, m]) => mutate(s, m)) },
      { weight: 4, arbitrary: fc.constantFrom(...seedMessages) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 96 }) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 1, 3, 100), fc.uint8Array({ maxLength: 64 })).map(([type, rest]) => new Uint8Array([type, ...rest])) },
    )
    const target = fc.constantFrom(
      { doc: () => `acme/deals/${dealId}`, api: () => member },
      { doc: () => `acme/invoices/${invoiceId}`, api: () => member },
      { doc: () => `acme/deals/${dealId}`, api: () => viewer },
      { doc: () => 'acme/index/deals', api: () => member },
    )
    let sent = 0
    const codes = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(target, fc.array(message, { minLength: 1, maxLength: MAX_MESSAGES_PER_RUN }), async ({ doc, api }, messages) => {
        const raw = new RawClient(`${t.wsUrl}/sync/${doc()}?token=${api().token}`)
        await raw.opened
        for (const m of messages) {
          if (!raw.isOpen) break
          raw.send(m)
          sent++
        }
        await raw.settled()
        const code = raw.closeCode
        raw.close()
        if (code !== null) codes.set(code, (codes.get(code) ?? 0) + 1)
        return code === null || ALLOWED_CLOSES.has(code)
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261127), endOnFailure: true },
    )
    expect(sent).toBeGreaterThan(2000)
    expect(errors).toEqual([])

    // Healthy clients: a full sync from scratch, a live edit both ways, a valid record.
    const a = provider(t.wsUrl, `acme/deals/${dealId}`, owner.token)
    const b = provider(t.wsUrl, `acme/deals/${dealId}`, member.token)
    await Promise.all([a, b].map(synced))
    fieldsOf(a.doc).set('amount', 1234)
    notesOf(b.doc).insert(0, '[healthy]')
    await until(() => [a, b].every((p) => fieldsOf(p.doc).get('amount') === 1234 && notesOf(p.doc).toString().startsWith('[healthy]')), 'healthy edits everywhere')
    expect(Y.encodeStateAsUpdate(a.doc)).toEqual(Y.encodeStateAsUpdate(b.doc))
    const record = await owner.request('GET', `/api/records/deals/${dealId}`)
    expect(record.status).toBe(200)
    expect(record.body).toMatchObject({ amount: 1234, title: expect.any(String) })
    expect(checkRecord('deals', fieldsOf(a.doc).toJSON())).toEqual([])
    ;[a, b].forEach((p) => p.destroy())
    console.log(`fuzz: ${sent} messages over ${RUNS} sockets; closes ${JSON.stringify(Object.fromEntries(codes))}`)
  })
})
