/**
 * The trust boundary against nested shared types and poisoned updates, through real
 * sockets: a value in `fields` is plain JSON and nothing else, an edit inside a shared type
 * is an edit of the field (or notes, line item) that holds it, notes hold text only, a
 * stored record holding a nested type is repaired as it loads, and an update that Yjs
 * cannot apply, or that nests types too deep, closes its sender only.
 */
import { describeBackends, restartSeeded, sameDatabase } from './helpers/backends.js'
import { appendToStored } from './helpers/stored.js'
import { textOf } from '../shared/textFields.js'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { MAX_FIELD_LENGTH } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, notesOf } from '../shared/docLayout.js'
import { LIMITS } from '../shared/protocol.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, until } from './helpers/server.js'
import { RawClient, captureNotices, closeCodes, updateMessage } from './helpers/trust.js'

let t: TestServer
let member: Api
let member2: Api
let owner: Api
const open: WebsocketProvider[] = []

beforeAll(async () => {
  t = await startServer()
  const users = await seedWorkspace(t.server)
  member = await login(t.url, users.member.email, users.member.password)
  member2 = await login(t.url, users.member2.email, users.member2.password)
  owner = await login(t.url, users.owner.email, users.owner.password)
})
afterAll(async () => {
  open.forEach((p) => p.destroy())
  await t.close()
})

function connect(docName: string, api: Api, notices = false, server: TestServer = t): WebsocketProvider {
  const p = provider(server.wsUrl, docName, api.token, notices ? { params: { notices: '1' } } : {})
  open.push(p)
  return p
}

async function create(collection: string, body: Record<string, unknown>, api: Api = owner): Promise<string> {
  const res = await api.request('POST', `/api/records/${collection}`, body)
  expect(res.status).toBe(201)
  return res.body.id as string
}

/** A sender with notices, two other providers, all synced; and the sender's close codes. */
async function editors(docName: string) {
  const sender = connect(docName, member, true)
  const notices = captureNotices(sender)
  const senderCloses = closeCodes(sender)
  const others = [connect(docName, member2), connect(docName, owner)]
  await Promise.all([sender, ...others].map(synced))
  return { sender, notices, senderCloses, others }
}

/** What a field holds as a value of its own: a shared type there reads as its class name. */
function rawField(doc: Y.Doc, key: string): unknown {
  const value = fieldsOf(doc).get(key)
  return value instanceof Y.AbstractType ? value.constructor.name : value
}

const START = '2026-03-02T11:00:00Z'
const END = '2026-03-02T12:00:00Z'

describe('nested shared types', () => {
  it('[N1] a field set to a Y.Text and then edited inside (stage off its enum, title past its limit) is reverted for everyone; the sender is told, its socket stays open, and REST PATCH works afterwards', async () => {
    const id = await create('deals', { title: 'Gate', stage: 'lead', amount: 1 })
    const docName = `acme/deals/${id}`
    const { sender, notices, senderCloses, others } = await editors(docName)

    const stage = new Y.Text('lead')
    const title = new Y.Text('Gate')
    sender.doc.transact(() => {
      fieldsOf(sender.doc).set('stage', stage)
      fieldsOf(sender.doc).set('title', title)
    })
    sender.doc.transact(() => {
      stage.delete(0, stage.length)
      stage.insert(0, 'HACKED-NOT-AN-ENUM')
      title.insert(4, 'x'.repeat(MAX_FIELD_LENGTH))
    })

    await until(
      // The title is collaborative text: the nested type is taken out of `fields`, the text root keeps its text.
      () =>
        [sender, ...others].every(
          (p) =>
            rawField(p.doc, 'stage') === 'lead' && rawField(p.doc, 'title') === undefined && textOf(p.doc, 'title').toString() === 'Gate',
        ),
      'plain values back everywhere',
    )
    await until(() => notices.some((n) => n.type === 'rejected' && n.issues.some((i) => i.path === 'stage')), 'the sender told')
    expect(notices[0]).toMatchObject({ type: 'rejected', reason: 'invalid' })
    expect(sender.wsconnected).toBe(true)
    expect(senderCloses).toEqual([])
    const patched = await owner.request('PATCH', `/api/records/deals/${id}`, { amount: 5 })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ stage: 'lead', title: 'Gate', amount: 5 })
  })

  it('[N2] an event whose start and end are Y.Texts edited onto another slot is reverted; the reservation stays consistent with the fields', async () => {
    const id = await create('events', { title: 'Slot', start: START, end: END, attendees: [owner.userId] })
    await t.server.reservations.idle()
    const docName = `acme/events/${id}`
    const { sender, notices, others } = await editors(docName)
    await until(
      () => (authorityOf(sender.doc).get('reservation') as { status?: string } | undefined)?.status === 'confirmed',
      'the slot confirmed',
    )

    const start = new Y.Text(START)
    const end = new Y.Text(END)
    sender.doc.transact(() => {
      fieldsOf(sender.doc).set('start', start)
      fieldsOf(sender.doc).set('end', end)
    })
    sender.doc.transact(() => {
      start.delete(11, 2)
      start.insert(11, '09')
      end.delete(11, 2)
      end.insert(11, '10')
    })

    await until(() => notices.length > 0, 'the sender told')
    await until(
      () => [sender, ...others].every((p) => rawField(p.doc, 'start') === START && rawField(p.doc, 'end') === END),
      'the slot back everywhere',
    )
    await t.server.registry.flushed()
    await t.server.reservations.idle()
    const record = (await owner.request('GET', `/api/records/events/${id}`)).body
    expect(record).toMatchObject({ start: START, end: END, reservation: { status: 'confirmed' } })
    expect(Date.parse(record.reservation.start)).toBe(Date.parse(record.start))
    expect(Date.parse(record.reservation.end)).toBe(Date.parse(record.end))
  })

  it('[N3] tags as a Y.Array receiving numbers and objects are reverted', async () => {
    const id = await create('customers', { name: 'Tagged', tags: ['a'] })
    const { sender, notices, others } = await editors(`acme/customers/${id}`)

    const tags = new Y.Array<unknown>()
    tags.push(['a'])
    fieldsOf(sender.doc).set('tags', tags)
    tags.push([1, { x: 1 }])

    await until(() => notices.length > 0, 'the sender told')
    await until(() => [sender, ...others].every((p) => JSON.stringify(rawField(p.doc, 'tags')) === '["a"]'), 'plain tags back everywhere')
    await t.server.registry.flushed()
    expect((await owner.request('GET', `/api/records/customers/${id}`)).body.tags).toEqual(['a'])
    expect(sender.wsconnected).toBe(true)
  })

  it('[N4] a nested Y.Map embedded in the notes, a format outside the accepted ones and named attributes of the notes are removed: notes hold text and accepted formats only', async () => {
    const id = await create('deals', { title: 'Notes', notes: 'hello' })
    const { sender, notices, others } = await editors(`acme/deals/${id}`)

    const notes = notesOf(sender.doc)
    const embedded = new Y.Map<unknown>()
    notes.insertEmbed(5, embedded)
    embedded.set('hidden', 'x'.repeat(1000))
    notes.format(0, 5, { color: 'red' })
    notes.setAttribute('color', 'red')
    notes.insert(6, ' world')

    await until(() => notices.length > 0, 'the sender told')
    const plain = (p: WebsocketProvider) => {
      const text = notesOf(p.doc)
      return (
        JSON.stringify(text.toDelta()) === JSON.stringify([{ insert: 'hello world' }]) && Object.keys(text.getAttributes()).length === 0
      )
    }
    await until(() => [sender, ...others].every(plain), 'plain text everywhere')
    await t.server.registry.flushed()
    expect((await owner.request('GET', `/api/records/deals/${id}`)).body.notes).toBe('hello world')
  })

  it('[N5] a line item holding a shared type is reverted to its last valid value', async () => {
    const id = await create('invoices', { items: [{ description: 'a', quantity: 1, unitPrice: 2 }] })
    const { sender, notices, others } = await editors(`acme/invoices/${id}`)

    const item = itemsOf(sender.doc).get(0)
    const description = new Y.Text('a')
    item.set('description', description)
    description.insert(1, 'b')

    await until(() => notices.length > 0, 'the sender told')
    await until(
      () => [sender, ...others].every((p) => itemsOf(p.doc).get(0)?.get('description') === 'a'),
      'the plain description back everywhere',
    )
  })
})

describeBackends('stored records', (backend) => {
  it('[N6] a stored record that already holds nested types is repaired the first time it loads (plain value when valid, else the stored projection), persisted, and logged', async () => {
    const lines: string[] = []
    const database = await backend.another()
    const first = await startServer(database.options)
    const users = await seedWorkspace(first.server)
    const api = await login(first.url, users.owner.email, users.owner.password)
    const id = await create('deals', { title: 'Stored', stage: 'lead', notes: 'text' }, api)
    const docName = `acme/deals/${id}`

    const {
      t: second,
      api: { owner: again },
    } = await restartSeeded(first, users, ['owner'], {
      // What an older server let in: written straight into the update log.
      whileStopped: () =>
        appendToStored(sameDatabase(first), docName, (doc) => {
          fieldsOf(doc).set('title', new Y.Text('Renamed'))
          fieldsOf(doc).set('stage', new Y.Text('HACKED-NOT-AN-ENUM'))
          notesOf(doc).insertEmbed(0, new Y.Map())
        }),
      options: { logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) },
    })
    try {
      const p = connect(docName, again, false, second)
      await synced(p)
      await until(
        () =>
          rawField(p.doc, 'title') === undefined &&
          textOf(p.doc, 'title').toString() === 'Renamed' &&
          rawField(p.doc, 'stage') === 'lead' &&
          notesOf(p.doc).toString() === 'text' &&
          notesOf(p.doc).length === 4,
        'the repaired record',
      )
      await second.server.registry.flushed()
      expect((await again.request('GET', `/api/records/deals/${id}`)).body).toMatchObject({
        title: 'Renamed',
        stage: 'lead',
        notes: 'text',
      })
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; doc?: string; issues?: { path: string }[] })
      const repair = logged.find((line) => line.msg === 'stored record repaired on load')
      expect(repair).toMatchObject({ doc: docName })
      expect(repair?.issues?.map((i) => i.path).sort()).toEqual(['notes', 'stage', 'title'])
      expect((await again.request('PATCH', `/api/records/deals/${id}`, { amount: 3 })).status).toBe(200)
    } finally {
      await second.close()
      await database.drop()
    }
  })
})

/**
 * A real notes update, bit-flipped until Yjs integrates part of it into a copy of the
 * document and then throws: what a poisoned update does to a live document.
 */
function poisonedUpdate(state: Uint8Array, clientID: number): { first: Uint8Array; poisoned: Uint8Array } {
  const mine = new Y.Doc()
  mine.clientID = clientID
  Y.applyUpdate(mine, state)
  let sv = Y.encodeStateVector(mine)
  notesOf(mine).insert(notesOf(mine).length, ' first edit of this client')
  const first = Y.encodeStateAsUpdate(mine, sv)
  const base = Y.encodeStateAsUpdate(mine)
  sv = Y.encodeStateVector(mine)
  // Typed into its own earlier text, then corrected: the new structs name the client's own earlier ones.
  notesOf(mine).insert(notesOf(mine).length - 4, 'some typed text, ünïcödé 🎉 '.repeat(6))
  notesOf(mine).insert(notesOf(mine).length - 30, 'and a correction')
  notesOf(mine).delete(0, 2)
  const update = Y.encodeStateAsUpdate(mine, sv)
  for (let at = 0; at < update.length; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = update.slice()
      bad[at] = bad[at]! ^ (1 << bit)
      const copy = new Y.Doc()
      Y.applyUpdate(copy, base)
      let emitted = false
      copy.on('update', () => {
        emitted = true
      })
      try {
        Y.applyUpdate(copy, bad)
      } catch {
        if (emitted && withinClockBounds(bad)) return { first, poisoned: bad }
      }
    }
  }
  throw new Error('no bit flip poisons this update')
}

/** Whether an update stays within the clock bounds every server checked before applying (so only what Yjs does with it decides). */
function withinClockBounds(update: Uint8Array): boolean {
  try {
    const { structs, ds } = Y.decodeUpdate(update)
    if (structs.some((s) => s.id.clock + s.length > LIMITS.MAX_UPDATE_CLOCK)) return false
    return [...ds.clients.values()].every((ranges) => ranges.every((r) => r.clock + r.len <= LIMITS.MAX_UPDATE_CLOCK))
  } catch {
    return false
  }
}

/** An update that nests `depth` maps under one entry of `fields` or `items`. */
function deepMaps(state: Uint8Array, where: 'fields' | 'items', depth: number): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  const sv = Y.encodeStateVector(doc)
  doc.transact(() => {
    let map = new Y.Map<unknown>()
    if (where === 'fields') fieldsOf(doc).set('title', map)
    else itemsOf(doc).push([map])
    for (let i = 0; i < depth; i++) {
      const next = new Y.Map<unknown>()
      map.set('k', next)
      map = next
    }
  })
  return Y.encodeStateAsUpdate(doc, sv)
}

/**
 * 30,000 nested maps that wait for a struct the victim has not typed yet (its next clock):
 * whoever types next would integrate them, inside their own update.
 */
function deepMapsWaitingFor(state: Uint8Array, victim: number): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  doc.clientID = victim
  notesOf(doc).insert(0, 'v')
  const sv = Y.encodeStateVector(doc)
  doc.clientID = 888_001
  doc.transact(() => {
    let map = new Y.Map<unknown>()
    notesOf(doc).insertEmbed(1, map)
    for (let i = 0; i < 30_000; i++) {
      const next = new Y.Map<unknown>()
      map.set('k', next)
      map = next
    }
  })
  return Y.encodeStateAsUpdate(doc, sv)
}

describe('poisoned updates close only their sender', () => {
  const attacks: [string, (state: Uint8Array) => { first?: Uint8Array; poisoned: Uint8Array }][] = [
    ['a bit-flipped notes update that Yjs applies half-way', (state) => poisonedUpdate(state, 777_001)],
    ['30,000 maps nested in a field', (state) => ({ poisoned: deepMaps(state, 'fields', 30_000) })],
    ['30,000 maps nested in a line item', (state) => ({ poisoned: deepMaps(state, 'items', 30_000) })],
  ]

  it.each(attacks)('[N7] %s: the sender is closed with 4400, the other clients stay connected and keep editing', async (_what, attack) => {
    const id = await create('invoices', { items: [{ description: 'a', quantity: 1, unitPrice: 1 }], notes: 'before' })
    const docName = `acme/invoices/${id}`
    const bystander = connect(docName, member2)
    const third = connect(docName, owner)
    const bystanderCloses = closeCodes(bystander)
    const thirdCloses = closeCodes(third)
    await Promise.all([bystander, third].map(synced))
    const { first, poisoned } = attack(Y.encodeStateAsUpdate(bystander.doc))

    const sender = new RawClient(`${t.wsUrl}/sync/${docName}?token=${member.token}`)
    await sender.opened
    if (first) {
      sender.send(updateMessage(first))
      await until(() => notesOf(third.doc).toString().endsWith('first edit of this client'), 'the sender’s first edit everywhere')
    }
    sender.send(updateMessage(poisoned))
    expect(await sender.closed).toBe(4400)

    notesOf(bystander.doc).insert(0, 'still here, ')
    await until(() => notesOf(third.doc).toString().startsWith('still here, '), 'the bystander’s edit reaches the third client')
    await until(
      async () => ((await owner.request('GET', `/api/records/invoices/${id}`)).body.notes as string).startsWith('still here, '),
      'and the REST API',
    )
    expect(bystanderCloses).toEqual([])
    expect(thirdCloses).toEqual([])
    expect(bystander.wsconnected && third.wsconnected).toBe(true)
    expect(fieldsOf(third.doc).get('title')).toBeUndefined()
    expect(itemsOf(third.doc).length).toBe(1)
  })

  it('[N8] nested types waiting for a struct another client will type are refused at once: the client who types it is never blamed or disconnected', async () => {
    const id = await create('deals', { title: 'Waiting', notes: 'before' })
    const docName = `acme/deals/${id}`
    const victim = connect(docName, member2)
    const third = connect(docName, owner)
    const victimCloses = closeCodes(victim)
    await Promise.all([victim, third].map(synced))

    const sender = new RawClient(`${t.wsUrl}/sync/${docName}?token=${member.token}`)
    await sender.opened
    sender.send(updateMessage(deepMapsWaitingFor(Y.encodeStateAsUpdate(victim.doc), victim.doc.clientID)))
    expect(await sender.closed).toBe(4400)

    notesOf(victim.doc).insert(0, 'v')
    await until(() => notesOf(third.doc).toString() === 'vbefore', 'the victim’s edit reaches the third client')
    await until(async () => (await owner.request('GET', `/api/records/deals/${id}`)).body.notes === 'vbefore', 'and the REST API')
    expect(victimCloses).toEqual([])
    expect(victim.wsconnected).toBe(true)
  })
})
