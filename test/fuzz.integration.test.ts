/**
 * Property-based fuzzing of the sync endpoint (fast-check): thousands of mutated and
 * random messages from real sockets against a live server. Property: the server only
 * ever answers a socket by keeping it open or closing it with 4400/4413/4429, never logs
 * an internal error, and afterwards still serves healthy clients a correct, valid document.
 * Mutated updates holding nested shared types never disconnect a healthy client that is
 * connected to the same document meanwhile.
 */
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { checkRecord } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, itemToYMap, notesOf, readFields } from '../shared/docLayout.js'
import { MESSAGE } from '../shared/protocol.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { RawClient, awarenessMessage, closeCodes, editOf, syncStep1, updateMessage } from './helpers/trust.js'

const ALLOWED_CLOSES = new Set([4400, 4413, 4429])
const RUNS = 600
const MAX_MESSAGES_PER_RUN = 60
const NESTED_RUNS = 300
const MAX_NESTED_MESSAGES_PER_RUN = 20

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

/**
 * Edits that put nested shared types into fields, line items and notes (and one that types
 * into its own text, so its structs name each other), as a client would send them.
 */
const NESTED_EDITS: ((doc: Y.Doc) => void)[] = [
  (d) => {
    const title = new Y.Text('Fuzz')
    fieldsOf(d).set('title', title)
    title.insert(4, ' nested')
  },
  (d) => {
    const stage = new Y.Map<unknown>()
    fieldsOf(d).set('stage', stage)
    stage.set('inner', new Y.Array<unknown>())
  },
  (d) => {
    const tags = new Y.Array<unknown>()
    fieldsOf(d).set('tags', tags)
    tags.push(['a', 1, { x: [2] }])
  },
  (d) => {
    const item = itemToYMap({ description: 'x', quantity: 1, unitPrice: 1 })
    itemsOf(d).push([item])
    const description = new Y.Text('nested')
    item.set('description', description)
    description.insert(0, 'deep ')
  },
  (d) => d.getArray<unknown>('items').push([new Y.Array<unknown>()]),
  (d) => {
    const notes = notesOf(d)
    notes.insert(0, 'typed ')
    const embedded = new Y.Map<unknown>()
    notes.insertEmbed(3, embedded)
    embedded.set('text', new Y.Text('inside'))
    notes.format(0, 2, { color: 'red' })
  },
  (d) => {
    notesOf(d).insert(0, 'own text, then typed into again')
    notesOf(d).insert(10, 'ünïcödé 🎉')
    notesOf(d).delete(2, 3)
  },
  (d) => authorityOf(d).set('number', new Y.Text('INV-1')),
]

/** One of NESTED_EDITS made by a new client on top of `state` (the live document), so that a mutation of it reaches Yjs's integration. */
function nestedEdit(state: Uint8Array, edit: number, clientID: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = clientID
  Y.applyUpdate(doc, state)
  const sv = Y.encodeStateVector(doc)
  NESTED_EDITS[edit]!(doc)
  return updateMessage(Y.encodeStateAsUpdate(doc, sv))
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'remove'; at: number; length: number }
  | { kind: 'bigVarint'; at: number }
  | { kind: 'nudge'; at: number; delta: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('bigVarint' as const), at: fc.nat() }),
)

/** Small changes of one byte: moves a clock or a length a little, so the update still decodes but refers elsewhere. */
const nudge: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant('nudge' as const),
  at: fc.nat(),
  delta: fc.integer({ min: -8, max: 8 }),
})

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
      case 'nudge':
        if (bytes.length > 0) bytes[at] = (bytes[at]! + m.delta + 256) % 256
        break
    }
  }
  return new Uint8Array(bytes)
}

describe('fuzz', () => {
  it('[F1] thousands of mutated and random messages never crash the server, and healthy clients still sync correctly', async () => {
    const seedMessages = seeds()
    const message = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .tuple(fc.constantFrom(...seedMessages), fc.array(mutation, { minLength: 1, maxLength: 4 }))
          .map(([s, m]) => mutate(s, m)),
      },
      { weight: 4, arbitrary: fc.constantFrom(...seedMessages) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 96 }) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(0, 1, 3, 100), fc.uint8Array({ maxLength: 64 }))
          .map(([type, rest]) => new Uint8Array([type, ...rest])),
      },
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
    await until(
      () => [a, b].every((p) => fieldsOf(p.doc).get('amount') === 1234 && notesOf(p.doc).toString().startsWith('[healthy]')),
      'healthy edits everywhere',
    )
    expect(Y.encodeStateAsUpdate(a.doc)).toEqual(Y.encodeStateAsUpdate(b.doc))
    const record = await owner.request('GET', `/api/records/deals/${dealId}`)
    expect(record.status).toBe(200)
    expect(record.body).toMatchObject({ amount: 1234, title: expect.any(String) })
    expect(checkRecord('deals', readFields(a.doc, 'deals'))).toEqual([])
    ;[a, b].forEach((p) => p.destroy())
    console.log(`fuzz: ${sent} messages over ${RUNS} sockets; closes ${JSON.stringify(Object.fromEntries(codes))}`)
  })

  it('[F2] mutated updates holding nested shared types never disconnect a healthy client of the same document, which can still edit afterwards', async () => {
    const docs = [`acme/deals/${dealId}`, `acme/invoices/${invoiceId}`]
    const healthy = docs.map((doc) => provider(t.wsUrl, doc, owner.token))
    const healthyCloses = healthy.map(closeCodes)
    await Promise.all(healthy.map(synced))
    const change = fc.oneof(
      { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
      { weight: 5, arbitrary: nudge.map((m) => [m]) },
      { weight: 2, arbitrary: fc.constant([] as Mutation[]) },
    )
    const run = fc.tuple(
      fc.integer({ min: 0, max: docs.length - 1 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: NESTED_EDITS.length - 1 }), change), {
        minLength: 1,
        maxLength: MAX_NESTED_MESSAGES_PER_RUN,
      }),
    )
    let clientID = 1_000_000
    let sent = 0
    const codes = new Map<number, number>()
    const deadline = Date.now() + 60_000
    await fc.assert(
      fc.asyncProperty(run, async ([i, messages]) => {
        if (Date.now() > deadline) return true
        const raw = new RawClient(`${t.wsUrl}/sync/${docs[i]}?token=${member.token}`)
        await raw.opened
        for (const [edit, mutations] of messages) {
          if (!raw.isOpen) break
          raw.send(mutate(nestedEdit(Y.encodeStateAsUpdate(healthy[i]!.doc), edit, clientID++), mutations))
          sent++
        }
        await raw.settled()
        const code = raw.closeCode
        raw.close()
        if (code !== null) codes.set(code, (codes.get(code) ?? 0) + 1)
        return (code === null || ALLOWED_CLOSES.has(code)) && healthyCloses.every((codes) => codes.length === 0)
      }),
      { numRuns: NESTED_RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261127), endOnFailure: true },
    )
    expect(sent).toBeGreaterThan(500)
    expect(errors).toEqual([])

    // The healthy clients were never disconnected, hold valid records, and still edit.
    fieldsOf(healthy[0]!.doc).set('amount', 4321)
    notesOf(healthy[1]!.doc).insert(0, '[still healthy]')
    await until(async () => (await owner.request('GET', `/api/records/deals/${dealId}`)).body.amount === 4321, 'the deal edit persisted')
    // Included, not first: the last fuzzed edits may still be on their way to the healthy client.
    await until(
      async () => ((await owner.request('GET', `/api/records/invoices/${invoiceId}`)).body.notes as string).includes('[still healthy]'),
      'the invoice edit persisted',
    )
    expect(healthyCloses).toEqual([[], []])
    expect(healthy.every((p) => p.wsconnected)).toBe(true)
    expect(checkRecord('deals', readFields(healthy[0]!.doc, 'deals'))).toEqual([])
    expect(checkRecord('invoices', readFields(healthy[1]!.doc, 'invoices'))).toEqual([])
    healthy.forEach((p) => p.destroy())
    console.log(`fuzz (nested): ${sent} messages over ${NESTED_RUNS} sockets; closes ${JSON.stringify(Object.fromEntries(codes))}`)
  })
})
