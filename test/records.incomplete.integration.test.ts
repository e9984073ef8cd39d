/**
 * A record created over the socket field by field is not a record until its required
 * fields are all there: the API answers 404 for it, lists, the index document and exports
 * leave it out, and the calendar decides nothing for it. The document keeps every field
 * the client wrote; once the last required one arrives, the record appears everywhere.
 * Real server, stock y-websocket providers over real sockets.
 */
import Database from 'better-sqlite3'
import { parse } from 'csv-parse/sync'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type { Collection } from '../shared/collections.js'
import { authorityOf, fieldsOf, indexEntriesOf, readFields } from '../shared/docLayout.js'
import { newRecordId } from '../shared/docNames.js'
import { serverOrigin } from '../server/sync/types.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, tempDir, until } from './helpers/server.js'
import { finished } from './helpers/jobs.js'
import { describeBackends, query } from './helpers/backends.js'

const START = '2026-05-04T09:00:00Z'
const END = '2026-05-04T10:00:00Z'

describeBackends('incomplete records', (backend) => {
  let t: TestServer
  let member: Api
  let owner: Api
  const open: WebsocketProvider[] = []

  beforeAll(async () => {
    t = await startServer({ ...backend.options(), jobs: { pollMs: 100 } })
    const users = await seedWorkspace(t.server)
    member = await login(t.url, users.member.email, users.member.password)
    owner = await login(t.url, users.owner.email, users.owner.password)
  })
  afterAll(async () => {
    open.forEach((p) => p.destroy())
    await t.close()
  })

  async function connect(docName: string, api: Api): Promise<WebsocketProvider> {
    const p = provider(t.wsUrl, docName, api.token)
    open.push(p)
    await synced(p)
    return p
  }

  /** How many updates of the document are on disk. */
  async function stored(docName: string): Promise<number> {
    return Number((await query<{ n: number }>(t.server, 'SELECT COUNT(*) AS n FROM doc_updates WHERE doc = ?', [docName]))[0]!.n)
  }

  /**
   * Creates a complete record over REST and waits for it in the index: every index write
   * queued before it (those of the updates already stored) has been made by then.
   */
  async function indexSettled(index: WebsocketProvider, collection: Collection, body: Record<string, unknown>): Promise<void> {
    const res = await owner.request('POST', `/api/records/${collection}`, body)
    expect(res.status).toBe(201)
    await until(() => indexEntriesOf(index.doc).has(res.body.id), 'a record created afterwards reaches the index')
  }

  /** The ids in a fresh CSV export of one collection. */
  async function exportedIds(collection: Collection): Promise<string[]> {
    const res = await member.request('POST', '/api/exports', { target: 'csv', collections: [collection] })
    const job = await finished(member, `/api/exports/${res.body.id}`)
    expect(job.status).toBe('succeeded')
    const file = await fetch(`${t.url}/api/exports/${job.id}/file`, { headers: { authorization: `Bearer ${member.token}` } })
    return (parse(Buffer.from(await file.arrayBuffer()), { bom: true }) as string[][]).slice(1).map((row) => row[0]!)
  }

  async function listedIds(collection: Collection): Promise<string[]> {
    return ((await member.request('GET', `/api/records/${collection}?limit=500`)).body.items as { id: string }[]).map((r) => r.id)
  }

  /** Every way the API shows a record answers 404 for it, and no list or export holds it. */
  async function expectAbsent(collection: Collection, id: string, index: WebsocketProvider): Promise<void> {
    const path = `/api/records/${collection}/${id}`
    expect((await member.request('GET', path)).status).toBe(404)
    expect((await member.request('GET', `${path}/history`)).status).toBe(404)
    expect((await member.request('PATCH', path, { notes: 'x' })).status).toBe(404)
    expect((await member.request('DELETE', path)).status).toBe(404)
    expect(await listedIds(collection)).not.toContain(id)
    expect(indexEntriesOf(index.doc).has(id)).toBe(false)
    expect(await exportedIds(collection)).not.toContain(id)
  }

  describe('records created over the socket', () => {
    it('[R1] a customer with only a phone is not served, listed, indexed or exported; once its name arrives it is, with both fields', async () => {
      const index = await connect('acme/index/customers', member)
      const id = newRecordId()
      const docName = `acme/customers/${id}`
      const editor = await connect(docName, member)
      fieldsOf(editor.doc).set('phone', '+1 555 0100')
      await until(async () => (await stored(docName)) > 0, 'the phone is stored')
      await indexSettled(index, 'customers', { name: 'Sentinel' })
      await expectAbsent('customers', id, index)
      // The document keeps what its creator wrote (moved into the phone's text root): nothing was reverted.
      expect(readFields(editor.doc, 'customers').phone).toBe('+1 555 0100')

      fieldsOf(editor.doc).set('name', 'Completed Later')
      await until(async () => (await member.request('GET', `/api/records/customers/${id}`)).status === 200, 'the record is served')
      expect((await member.request('GET', `/api/records/customers/${id}`)).body).toMatchObject({
        id,
        name: 'Completed Later',
        phone: '+1 555 0100',
      })
      expect(await listedIds('customers')).toContain(id)
      await until(() => indexEntriesOf(index.doc).get(id)?.title === 'Completed Later', 'the record reaches the index')
      expect(indexEntriesOf(index.doc).get(id)?.fields).toMatchObject({ name: 'Completed Later', phone: '+1 555 0100' })
      expect(await exportedIds('customers')).toContain(id)
      expect((await member.request('GET', `/api/records/customers/${id}/history`)).status).toBe(200)
    })

    it('[R2] an event without a title holds no slot and gets no decision; once titled it is served, listed, indexed, exported and decided', async () => {
      const index = await connect('acme/index/events', member)
      const id = newRecordId()
      const docName = `acme/events/${id}`
      const editor = await connect(docName, member)
      editor.doc.transact(() => {
        fieldsOf(editor.doc).set('start', START)
        fieldsOf(editor.doc).set('end', END)
        fieldsOf(editor.doc).set('room', 'Harbour')
      })
      await until(async () => (await stored(docName)) > 0, 'the slot is stored')
      await indexSettled(index, 'events', { title: 'Sentinel', start: '2026-05-05T09:00:00Z', end: '2026-05-05T10:00:00Z' })
      await t.server.reservations.idle()
      await expectAbsent('events', id, index)
      expect(authorityOf(editor.doc).get('reservation')).toBeUndefined()
      expect(await t.server.ledger.entry('acme', id)).toBeUndefined()

      // The untitled event holds nothing: a complete event in the same room and hour is confirmed.
      const rival = await owner.request('POST', '/api/records/events', { title: 'Rival', start: START, end: END, room: 'Harbour' })
      await t.server.reservations.idle()
      await until(
        async () => (await owner.request('GET', `/api/records/events/${rival.body.id}`)).body.reservation?.status === 'confirmed',
        'the rival is confirmed',
      )

      fieldsOf(editor.doc).set('title', 'Titled Later')
      await until(
        () => (authorityOf(editor.doc).get('reservation') as { status?: string } | undefined)?.status === 'conflict',
        'the completed event is decided',
      )
      expect(authorityOf(editor.doc).get('reservation')).toMatchObject({ conflictsWith: [rival.body.id] })
      await until(async () => (await member.request('GET', `/api/records/events/${id}`)).status === 200, 'the event is served')
      expect((await member.request('GET', `/api/records/events/${id}`)).body).toMatchObject({
        title: 'Titled Later',
        start: START,
        end: END,
        room: 'Harbour',
      })
      expect(await listedIds('events')).toContain(id)
      await until(() => indexEntriesOf(index.doc).get(id)?.title === 'Titled Later', 'the event reaches the index')
      expect(await exportedIds('events')).toContain(id)
    })

    it('[R3] an event given its fields one update at a time appears only with the last of title, start and end', async () => {
      const index = await connect('acme/index/events', member)
      const id = newRecordId()
      const docName = `acme/events/${id}`
      const editor = await connect(docName, member)
      let sentinel = 0
      for (const [key, value] of [
        ['title', 'Step by step'],
        ['start', '2026-05-06T09:00:00Z'],
      ] as const) {
        const before = await stored(docName)
        fieldsOf(editor.doc).set(key, value)
        await until(async () => (await stored(docName)) > before, `${key} is stored`)
        await indexSettled(index, 'events', { title: `Sentinel ${sentinel++}`, start: '2026-05-07T09:00:00Z', end: '2026-05-07T10:00:00Z' })
        await t.server.reservations.idle()
        expect((await member.request('GET', `/api/records/events/${id}`)).status).toBe(404)
        expect(indexEntriesOf(index.doc).has(id)).toBe(false)
        expect(await listedIds('events')).not.toContain(id)
        expect(authorityOf(editor.doc).get('reservation')).toBeUndefined()
      }
      fieldsOf(editor.doc).set('end', '2026-05-06T10:00:00Z')
      await until(() => indexEntriesOf(index.doc).get(id)?.title === 'Step by step', 'the complete event reaches the index')
      await until(
        () => (authorityOf(editor.doc).get('reservation') as { status?: string } | undefined)?.status === 'confirmed',
        'the event is confirmed',
      )
      expect((await member.request('GET', `/api/records/events/${id}`)).body).toMatchObject({
        title: 'Step by step',
        reservation: { status: 'confirmed' },
      })
    })
  })
})

// SQLite only: the upgrade is staged by taking a SQLite file back to schema version 3.
describe('records stored incomplete before the rule', () => {
  it('[R4] after an upgrade they are marked incomplete: not served, out of the index, and the slot one held is released', async () => {
    const dir = tempDir()
    const file = join(dir, 'accord.db')
    const before = await startServer({ db: file })
    const users = await seedWorkspace(before.server)
    const api = await login(before.url, users.member.email, users.member.password)
    const customer = newRecordId()
    const event = newRecordId()
    const editors = [
      provider(before.wsUrl, `acme/customers/${customer}`, api.token),
      provider(before.wsUrl, `acme/events/${event}`, api.token),
    ]
    await Promise.all(editors.map(synced))
    fieldsOf(editors[0]!.doc).set('phone', '+1 555 0100')
    editors[1]!.doc.transact(() => {
      fieldsOf(editors[1]!.doc).set('start', START)
      fieldsOf(editors[1]!.doc).set('end', END)
      fieldsOf(editors[1]!.doc).set('room', 'Quay')
    })
    await until(() => (before.server.db.prepare('SELECT COUNT(*) AS n FROM records').get() as { n: number }).n === 2, 'both rows stored')
    // What a version before the rule left: the untitled event booked, the phone-only customer indexed.
    const decision = await before.server.ledger.decide({
      workspace: 'acme',
      eventId: event,
      active: true,
      start: Date.parse(START),
      end: Date.parse(END),
      attendees: [],
      room: 'Quay',
    })
    expect(decision.reservation?.status).toBe('confirmed')
    await before.server.registry.use(`acme/events/${event}`, (room) =>
      room.doc.transact(() => authorityOf(room.doc).set('reservation', decision.reservation), serverOrigin('authority')),
    )
    await before.server.registry.use('acme/index/customers', (room) =>
      room.doc.transact(
        () =>
          indexEntriesOf(room.doc).set(customer, {
            id: customer,
            title: '(untitled)',
            fields: { phone: '+1 555 0100' },
            authority: {},
            updatedAt: new Date().toISOString(),
            updatedBy: api.userId,
          }),
        serverOrigin('index'),
      ),
    )
    editors.forEach((p) => p.destroy())
    await before.close()
    const db = new Database(file)
    // Back to the schema of version 3: the migrations after it undone.
    db.exec(
      'ALTER TABLE records DROP COLUMN complete; DROP TABLE login_attempts; ALTER TABLE records DROP COLUMN version; ' +
        'DROP TABLE doc_clients; ALTER TABLE history DROP COLUMN overwritten; DROP TABLE pending_notices; ALTER TABLE jobs DROP COLUMN retry; ' +
        'ALTER TABLE users DROP COLUMN deactivated_at; DROP TABLE sheet_targets; DROP TABLE invites; DROP TABLE saved_views; ALTER TABLE records DROP COLUMN search_text; ALTER TABLE records DROP COLUMN log_seq',
    )
    db.pragma('user_version = 3')
    db.close()

    const after = await startServer({ db: file })
    try {
      const owner2 = await login(after.url, users.owner.email, users.owner.password)
      expect((await owner2.request('GET', `/api/records/customers/${customer}`)).status).toBe(404)
      expect((await owner2.request('GET', `/api/records/events/${event}`)).status).toBe(404)
      const index = provider(after.wsUrl, 'acme/index/customers', owner2.token)
      await synced(index)
      await until(() => !indexEntriesOf(index.doc).has(customer), 'the stale index entry is removed')
      index.destroy()
      await after.server.reservations.idle()
      expect((await after.server.ledger.entry('acme', event))?.reservation ?? null).toBeNull()
      const rival = await owner2.request('POST', '/api/records/events', { title: 'Rival', start: START, end: END, room: 'Quay' })
      await until(
        async () => (await owner2.request('GET', `/api/records/events/${rival.body.id}`)).body.reservation?.status === 'confirmed',
        'the room is free again',
      )
    } finally {
      await after.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
