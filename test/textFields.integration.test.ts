/**
 * Short text fields are collaborative text (shared/textFields.ts): two people typing into one
 * title both keep what they typed; stock clients that set `fields.title` to a string still
 * work; records stored with plain strings are migrated as they load; the gate keeps the text
 * roots within their fields' rules. Real server on either backend, stock y-websocket providers.
 */
import { appendToStored, loadStored } from './helpers/stored.js'
import { describeBackends } from './helpers/backends.js'
import type { RejectedNotice } from '../shared/protocol.js'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { MAX_FIELD_LENGTH } from '../shared/collections.js'
import { fieldsOf, indexEntriesOf } from '../shared/docLayout.js'
import { textOf } from '../shared/textFields.js'
import { type Api, type TestServer, login, provider, seedWorkspace, startSeeded, startServer, synced, until } from './helpers/server.js'
import { captureNotices, closeCodes } from './helpers/trust.js'

describeBackends('text fields', (backend) => {
  let t: TestServer
  let member: Api
  let member2: Api
  const open: WebsocketProvider[] = []

  beforeAll(async () => {
    const seeded = await startSeeded(['member', 'member2'], backend.options())
    t = seeded.t
    member = seeded.api.member
    member2 = seeded.api.member2
  })
  afterAll(async () => {
    for (const p of open) p.destroy()
    await t.close()
  })

  function connect(docName: string, api: Api, options: { notices?: boolean; server?: TestServer } = {}): WebsocketProvider {
    const p = provider((options.server ?? t).wsUrl, docName, api.token, options.notices ? { params: { notices: '1' } } : {})
    open.push(p)
    return p
  }

  async function create(collection: string, body: Record<string, unknown>, api = member): Promise<string> {
    const res = await api.request('POST', `/api/records/${collection}`, body)
    expect(res.status).toBe(201)
    return res.body.id as string
  }

  const title = (p: WebsocketProvider) => textOf(p.doc, 'title').toString()

  describe('short text fields', () => {
    it('[TX1] two stock providers type into the same deal title at once, offline, at different places: both texts survive, in every copy and over REST', async () => {
      const id = await create('deals', { title: 'Big deal', amount: 5 })
      const docName = `acme/deals/${id}`
      const [a, b] = [connect(docName, member), connect(docName, member2)]
      await Promise.all([a, b].map(synced))
      expect(title(a)).toBe('Big deal')

      a.disconnect()
      b.disconnect()
      // Interleaved keystrokes, each person at their own place in the same title.
      const typeInto = (p: WebsocketProvider, at: () => number, chars: string, i: number) => textOf(p.doc, 'title').insert(at(), chars[i]!)
      for (let i = 0; i < 5; i++) {
        typeInto(a, () => i, 'Very ', i)
        typeInto(b, () => title(b).length, ' 2026', i)
      }
      expect(title(a)).toBe('Very Big deal')
      expect(title(b)).toBe('Big deal 2026')
      a.connect()
      b.connect()

      const merged = 'Very Big deal 2026'
      await until(() => title(a) === merged && title(b) === merged, 'both copies hold both texts')
      await t.server.registry.flushed()
      const record = (await member.request('GET', `/api/records/deals/${id}`)).body
      expect(record).toMatchObject({ title: merged, amount: 5 })
      expect(fieldsOf(a.doc).has('title')).toBe(false)
      const history = (await member.request('GET', `/api/records/deals/${id}/history`)).body as { items: { fields: string[] }[] }
      expect(history.items.some((item) => item.fields.includes('title'))).toBe(true)
      const index = connect('acme/index/deals', member)
      await synced(index)
      await until(() => indexEntriesOf(index.doc).get(id)?.title === merged, 'the list shows the merged title')
    })

    it('[TX2] a stock provider setting fields.title to a string still works: the server moves it into the text root and removes the key; an invalid string is refused', async () => {
      const id = await create('deals', { title: 'Typed by someone' })
      const docName = `acme/deals/${id}`
      const stock = connect(docName, member, { notices: true })
      const notices = captureNotices(stock)
      const closes = closeCodes(stock)
      const other = connect(docName, member2)
      await Promise.all([stock, other].map(synced))

      fieldsOf(stock.doc).set('title', 'Set as a plain string')
      await until(
        () => [stock, other].every((p) => title(p) === 'Set as a plain string' && !fieldsOf(p.doc).has('title')),
        'the text root holds it and fields.title is gone, everywhere',
      )
      await t.server.registry.flushed()
      expect((await member.request('GET', `/api/records/deals/${id}`)).body.title).toBe('Set as a plain string')
      const room = t.server.registry.get(docName)!
      expect(textOf(room.doc, 'title').toString()).toBe('Set as a plain string')
      expect(fieldsOf(room.doc).has('title')).toBe(false)
      expect(notices).toEqual([])

      fieldsOf(stock.doc).set('title', 'x'.repeat(MAX_FIELD_LENGTH + 1))
      await until(() => notices.some((n) => n.type === 'rejected' && n.issues.some((i) => i.path === 'title')), 'the sender told')
      await until(() => [stock, other].every((p) => title(p) === 'Set as a plain string' && !fieldsOf(p.doc).has('title')), 'the text kept')
      expect(closes).toEqual([])
    })

    it('[TX3] a record stored with a plain-string title is migrated as it loads: the text root holds it, fields.title is gone, and that is persisted', async () => {
      const lines: string[] = []
      // A database of its own: its workspace is seeded anew.
      const other = await backend.another()
      onTestFinished(() => other.drop())
      const database = other.options.databaseUrl ? other.options : { db: `${t.dir}/migrate.db` }
      const first = await startServer(database)
      const seeded = await seedWorkspace(first.server)
      const api = await login(first.url, seeded.owner.email, seeded.owner.password)
      const id = await create('events', { title: 'Placeholder', start: '2026-06-01T09:00:00Z', end: '2026-06-01T10:00:00Z' }, api)
      const docName = `acme/events/${id}`
      await first.close()

      // The layout before text roots: title and room as plain strings in `fields`.
      await appendToStored(database, docName, (doc) => {
        const text = textOf(doc, 'title')
        text.delete(0, text.length)
        fieldsOf(doc).set('title', 'Stored before text roots')
        fieldsOf(doc).set('room', 'Atlas')
      })

      const second = await startServer({
        ...database,
        logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }),
        // The room stays in memory until the client comes: on SQLite the start projects the
        // record again (its row is behind the appended update), which reads and so repairs it,
        // and that repair must be written without waiting for the room to unload.
        registry: { unloadGraceMs: 60_000 },
      })
      try {
        const again = await login(second.url, seeded.owner.email, seeded.owner.password)
        const p = connect(docName, again, { server: second })
        await until(() => p.synced, 'the client synced (its reply waits for the repair to be on disk)')
        await until(
          () => title(p) === 'Stored before text roots' && textOf(p.doc, 'room').toString() === 'Atlas' && fieldsOf(p.doc).size === 4,
          'the migrated record',
        )
        expect(fieldsOf(p.doc).has('title') || fieldsOf(p.doc).has('room')).toBe(false)
        await second.server.registry.flushed()
        expect(second.server.registry.get(docName)?.unpersisted, 'nothing applied is left unwritten').toBe(0)
        expect((await again.request('GET', `/api/records/events/${id}`)).body).toMatchObject({
          title: 'Stored before text roots',
          room: 'Atlas',
        })
        const repair = lines
          .map((line) => JSON.parse(line) as { msg: string; issues?: { path: string }[] })
          .find((l) => l.msg === 'stored record repaired on load')
        expect(repair?.issues?.map((i) => i.path).sort()).toEqual(['room', 'title'])
      } finally {
        await second.close()
      }
      // Persisted: the stored log now reads as migrated without the server.
      const stored = await loadStored(database, docName)
      await other.drop()
      expect(fieldsOf(stored).has('title')).toBe(false)
      expect(textOf(stored, 'title').toString()).toBe('Stored before text roots')
    })

    it('[TX4] the gate takes back a title typed past its limit and an embed in a text root, for every provider; the sender is told and stays connected', async () => {
      const id = await create('deals', { title: 'Short' })
      const docName = `acme/deals/${id}`
      const sender = connect(docName, member, { notices: true })
      const notices = captureNotices(sender)
      const closes = closeCodes(sender)
      const other = connect(docName, member2)
      await Promise.all([sender, other].map(synced))

      textOf(sender.doc, 'title').insert(5, 'y'.repeat(MAX_FIELD_LENGTH))
      await until(() => notices.length === 1, 'told about the length')
      expect(notices[0]).toMatchObject({ type: 'rejected', reason: 'invalid', issues: [expect.objectContaining({ path: 'title' })] })
      await until(() => [sender, other].every((p) => title(p) === 'Short'), 'the title back everywhere')

      sender.doc.transact(() => {
        textOf(sender.doc, 'title').insertEmbed(0, new Y.Map())
        textOf(sender.doc, 'title').insert(6, '!')
      })
      await until(() => notices.length === 2, 'told about the embed')
      expect((notices[1] as RejectedNotice).issues).toEqual([
        expect.objectContaining({ path: 'title', message: 'title holds plain text only' }),
      ])
      await until(
        () => [sender, other].every((p) => title(p) === 'Short!' && textOf(p.doc, 'title').toDelta().length === 1),
        'the embed gone, the text kept',
      )
      expect(closes).toEqual([])
      await t.server.registry.flushed()
      expect((await member.request('GET', `/api/records/deals/${id}`)).body.title).toBe('Short!')
    })
  })
})
