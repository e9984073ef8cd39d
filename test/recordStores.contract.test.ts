/**
 * The contracts of the record stores, one suite for each implementation: record reads
 * (RecordReads: get, list, search, paging, history, incomplete and stored records), invoice
 * numbers (InvoiceNumbers) and the notice outbox (NoticeOutbox), on SQLite on a real file and
 * on PostgreSQL on a fresh database (test/helpers/pg.ts; skipped with one line when no
 * PostgreSQL is reachable, except on CI). Records are written by the real document store, as
 * the server writes them.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { Collection, FieldValues, LineItem } from '../shared/collections.js'
import { authorityOf, fieldsOf, itemToYMap, itemsOf, notesOf } from '../shared/docLayout.js'
import { recordDocName } from '../shared/docNames.js'
import type { ServerNotice } from '../shared/protocol.js'
import { isTextField, replaceText, textOf } from '../shared/textFields.js'
import { type InvoiceNumbers, PgInvoiceNumbers, SqliteInvoiceNumbers } from '../server/authority/InvoiceNumbers.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { RecordError } from '../server/records/RecordError.js'
import { PgRecordReads, type RecordReads, SqliteRecordReads } from '../server/records/RecordReads.js'
import { etagOf, projectRecord } from '../server/records/recordProjection.js'
import type { DocStore, OverwrittenPart, StoredUpdate } from '../server/store/DocStore.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { NOTICES_KEPT_PER_DOC, NOTICE_TTL_MS, type NoticeOutbox, PgNoticeOutbox, SqliteNoticeOutbox } from '../server/store/NoticeOutbox.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

/** The stores of one database, and what the contracts need around them. */
interface Subject {
  store: DocStore
  reads: RecordReads
  numbers: InvoiceNumbers
  outbox: NoticeOutbox
  /** The same stores on a connection (pool) of their own, as another process would have them. */
  other(): Promise<{ numbers: InvoiceNumbers; outbox: NoticeOutbox }>
  /** Runs SQL of no parameters on the database (what an older version left behind); its rows, if any. */
  sql(text: string): Promise<Record<string, unknown>[]>
  /** Closes whatever is open and removes what the subject made. */
  dispose(): Promise<void>
}

const T0 = Date.parse('2031-03-01T10:00:00Z')

/** Writes records through the document store, as the server commits them: one update per edit, the projection with it. */
class Writer {
  private readonly docs = new Map<string, Y.Doc>()

  constructor(private readonly store: DocStore) {}

  /** Applies `edit` to a record's document (new or stored earlier) and appends the update with its projection and history. */
  async edit(
    workspace: string,
    collection: Collection,
    id: string,
    edit: { fields?: FieldValues; notes?: string; items?: LineItem[]; deleted?: boolean; overwritten?: OverwrittenPart[] },
    author: string | null = 'u1',
    at = T0,
  ): Promise<Y.Doc> {
    const name = recordDocName(workspace, collection, id)
    let doc = this.docs.get(name)
    if (!doc) this.docs.set(name, (doc = new Y.Doc()))
    const before = Y.encodeStateVector(doc)
    const changed: string[] = []
    doc.transact(() => {
      for (const [key, value] of Object.entries(edit.fields ?? {})) {
        changed.push(key)
        if (isTextField(collection, key)) replaceText(textOf(doc, key), value as string)
        else fieldsOf(doc).set(key, value)
      }
      if (edit.notes !== undefined) {
        changed.push('notes')
        replaceText(notesOf(doc), edit.notes)
      }
      if (edit.items) {
        changed.push('items')
        itemsOf(doc).push(edit.items.map(itemToYMap))
      }
      if (edit.deleted) {
        changed.push('authority.deleted')
        authorityOf(doc).set('deleted', new Date(at).toISOString())
      }
    })
    const update: StoredUpdate = { update: Y.encodeStateAsUpdate(doc, before), author, changed, at, overwritten: edit.overwritten }
    const projection = projectRecord({ workspace, collection, id }, doc, [update])
    await this.store.append([{ docName: name, updates: [update], projection: projection?.row }])
    return doc
  }
}

function storesContract(name: string, setup: () => () => Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(`record stores contract: ${name}`, () => {
    const make = setup()
    let s: Subject
    let w: Writer
    beforeEach(async () => {
      s = await make()
      w = new Writer(s.store)
    })
    afterEach(() => s.dispose())

    const notFound = async (read: Promise<unknown>) => {
      const error = await read.then(
        () => null,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(RecordError)
      expect((error as RecordError).code).toBe('not-found')
    }

    it('[RR1] get and current: what the projection holds, with the ETag of the same state; deleted, incomplete and unknown records are not found', async () => {
      await w.edit(
        'acme',
        'invoices',
        'i1',
        { fields: { customerId: 'c1', status: 'draft' }, items: [{ description: 'Work', quantity: 2, unitPrice: 50 }] },
        'u1',
        T0,
      )
      const doc = await w.edit('acme', 'invoices', 'i1', { notes: 'net 30' }, 'u2', T0 + 1000)
      const current = await s.reads.current('acme', 'invoices', 'i1')
      expect(current.record).toEqual({
        customerId: 'c1',
        status: 'draft',
        id: 'i1',
        collection: 'invoices',
        notes: 'net 30',
        items: [{ description: 'Work', quantity: 2, unitPrice: 50 }],
        updatedAt: new Date(T0 + 1000).toISOString(),
        updatedBy: 'u2',
        version: 2,
      })
      expect(current.etag).toBe(etagOf(doc))
      expect(await s.reads.etag('acme', 'invoices', 'i1')).toBe(current.etag)
      expect(await s.reads.get('acme', 'invoices', 'i1')).toEqual(current.record)

      await w.edit('acme', 'deals', 'gone', { fields: { title: 'Gone' } })
      await w.edit('acme', 'deals', 'gone', { deleted: true })
      await w.edit('acme', 'events', 'half', { fields: { title: 'No times yet' } })
      await notFound(s.reads.get('acme', 'deals', 'gone'))
      await notFound(s.reads.current('acme', 'events', 'half'))
      await notFound(s.reads.etag('acme', 'deals', 'never'))
      await notFound(s.reads.history('acme', 'deals', 'gone'))
      // Another workspace's record is not found either.
      await notFound(s.reads.get('globex', 'invoices', 'i1'))
    })

    it('[RR2] list: live, complete records of one collection in byte order of their ids, page by page after a cursor', async () => {
      // Ids of every allowed kind of character: a locale's order is not the bytes' order.
      const ids = ['b', 'B', 'a-1', 'a_1', 'Z', '0', 'a', '_x', '-y', 'aB', 'ab']
      for (const id of ids) await w.edit('acme', 'deals', id, { fields: { title: `deal ${id}` } })
      await w.edit('acme', 'deals', 'zz-deleted', { fields: { title: 'deleted' } })
      await w.edit('acme', 'deals', 'zz-deleted', { deleted: true })
      await w.edit('acme', 'deals', 'zz-incomplete', { fields: { amount: 3 } })
      await w.edit('acme', 'customers', 'c', { fields: { name: 'not a deal' } })
      await w.edit('globex', 'deals', 'g', { fields: { title: 'not acme' } })
      const byteOrder = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))

      const seen: string[] = []
      const pages: number[] = []
      let cursor: string | undefined
      do {
        const page = await s.reads.list('acme', 'deals', { limit: 3, cursor })
        seen.push(...page.items.map((r) => r.id))
        pages.push(page.items.length)
        cursor = page.nextCursor ?? undefined
      } while (cursor)
      expect(seen).toEqual(byteOrder)
      expect(pages).toEqual([3, 3, 3, 2])
      expect((await s.reads.all('acme', 'deals')).map((r) => r.id)).toEqual(byteOrder)

      // A full last page says so: no cursor to an empty one.
      expect((await s.reads.list('acme', 'deals', { limit: 11 })).nextCursor).toBeNull()
      expect((await s.reads.list('acme', 'deals', { limit: 10 })).nextCursor).toBe(byteOrder[9])
      // The limit is at least 1; the default page holds them all.
      expect((await s.reads.list('acme', 'deals', { limit: 0 })).items.map((r) => r.id)).toEqual([byteOrder[0]])
      expect((await s.reads.list('acme', 'deals', {})).items).toHaveLength(11)
      expect((await s.reads.list('acme', 'deals', { cursor: 'zzz' })).items).toEqual([])
    })

    it('[RR3] search: a substring of the fields or the notes, ASCII letters in either case, `%`, `_` and `\\` taken literally', async () => {
      const records: [string, FieldValues, string][] = [
        ['r1', { name: 'Alpha Ltd' }, ''],
        ['r2', { name: 'ALPHABET inc' }, ''],
        ['r3', { name: 'Beta' }, 'met them at the ALPHA conference'],
        ['r4', { name: 'Ärzte GmbH' }, ''],
        ['r5', { name: '100% pure' }, ''],
        ['r6', { name: 'under_score' }, ''],
        ['r7', { name: 'back\\slash' }, ''],
        ['r8', { name: '1000 pure' }, ''],
        ['r9', { name: 'underXscore' }, ''],
      ]
      for (const [id, fields, notes] of records) await w.edit('acme', 'customers', id, { fields, notes })
      const found = async (q: string, cursor?: string) => (await s.reads.list('acme', 'customers', { q, cursor })).items.map((r) => r.id)

      expect(await found('alpha')).toEqual(['r1', 'r2', 'r3'])
      expect(await found('aLpHaBeT')).toEqual(['r2'])
      expect(await found('alpha', 'r1')).toEqual(['r2', 'r3'])
      expect(await found('%')).toEqual(['r5'])
      expect(await found('0% p')).toEqual(['r5'])
      expect(await found('_')).toEqual(['r6'])
      expect(await found('r_s')).toEqual(['r6'])
      // A value, not its JSON text: one backslash finds the one backslash; the key `name` and JSON punctuation find nothing.
      expect(await found('\\')).toEqual(['r7'])
      expect(await found('name')).toEqual([])
      expect(await found('"')).toEqual([])
      expect(await found(':')).toEqual([])
      expect(await found('{')).toEqual([])
      // As SQLite's LIKE: letters beyond ASCII match in their own case only, whatever the database's locale.
      expect(await found('Ärzte')).toEqual(['r4'])
      expect(await found('ärzte')).toEqual([])
      expect(await found('RZTE')).toEqual(['r4'])
      expect(await found('no such text')).toEqual([])
      expect(await found('nul\0')).toEqual([])
    })

    it('[RR3b] search looks at values only: strings, numbers as written, array elements and notes; not keys, JSON or references', async () => {
      await w.edit('acme', 'customers', 'c1', { fields: { name: 'Fjordline', email: 'ops@fjordline.test', tags: ['VIP', 'shipping'] } })
      await w.edit('acme', 'customers', 'c2', { fields: { name: 'Norse Cargo', email: 'hello@norse.test', ownerId: 'u-vip9' } })
      await w.edit('acme', 'customers', 'c3', { fields: { name: 'Quiet Ltd' }, notes: 'prefers e-mail, "never" phone' })
      await w.edit('acme', 'deals', 'd1', { fields: { title: 'Retainer', amount: 0.7999999999999999, customerId: 'c1' } })
      await w.edit('acme', 'deals', 'd2', { fields: { title: 'Big one', amount: 1e21, stage: 'won' } })
      await w.edit('acme', 'deals', 'd3', { fields: { title: 'Cents', amount: 1234.5 } })
      const found = async (collection: Collection, q: string) => (await s.reads.list('acme', collection, { q })).items.map((r) => r.id)

      // The key `email` is in every customer's JSON; the word is in one's notes only.
      expect(await found('customers', 'email')).toEqual([])
      expect(await found('customers', 'e-mail')).toEqual(['c3'])
      expect(await found('customers', '"never"')).toEqual(['c3'])
      expect(await found('customers', 'vip')).toEqual(['c1'])
      expect(await found('customers', 'shipping')).toEqual(['c1'])
      expect(await found('customers', '["VIP"')).toEqual([])
      expect(await found('customers', 'ownerId')).toEqual([])
      // A number as its JSON text, the same on both databases (not the double printed back).
      expect(await found('deals', '0.7999999999999999')).toEqual(['d1'])
      expect(await found('deals', '0.79999999999999993')).toEqual([])
      expect(await found('deals', '1e+21')).toEqual(['d2'])
      expect(await found('deals', '234.5')).toEqual(['d3'])
      expect(await found('deals', 'won')).toEqual(['d2'])
      expect(await found('deals', 'c1')).toEqual([])
      expect(await found('deals', 'amount')).toEqual([])
      // Paging within the matches keeps its cursor.
      const page = await s.reads.list('acme', 'deals', { q: 'e', limit: 1 })
      expect(page.items.map((r) => r.id)).toEqual(['d1'])
      expect((await s.reads.list('acme', 'deals', { q: 'e', cursor: page.nextCursor! })).items.map((r) => r.id)).toEqual(['d2', 'd3'])
    })

    it('[RR3c] search(): title matches first, then the most recently changed; live records of the workspace only', async () => {
      await w.edit('acme', 'customers', 'a', { fields: { name: 'Harbour Ltd' } }, 'u1', T0)
      await w.edit('acme', 'customers', 'b', { fields: { name: 'Bergen' }, notes: 'met at the harbour' }, 'u1', T0 + 2000)
      await w.edit('acme', 'customers', 'c', { fields: { name: 'Oslo', company: 'Harbour Group' } }, 'u1', T0 + 1000)
      await w.edit('acme', 'customers', 'd', { fields: { name: 'Harbour gone' } })
      await w.edit('acme', 'customers', 'd', { deleted: true })
      // No name: incomplete, so never found.
      await w.edit('acme', 'customers', 'e', { fields: { email: 'harbour@x.test' } })
      await w.edit('globex', 'customers', 'g', { fields: { name: 'Harbour elsewhere' } })
      const ids = async (q: string, limit = 10) => (await s.reads.search('acme', 'customers', q, limit)).map((r) => r.id)

      expect(await ids('HARBOUR')).toEqual(['a', 'b', 'c'])
      expect(await ids('harbour', 2)).toEqual(['a', 'b'])
      expect(await s.reads.search('acme', 'customers', 'group', 5)).toEqual([
        { id: 'c', fields: { name: 'Oslo', company: 'Harbour Group' }, notes: '' },
      ])
      expect(await ids('nul\0')).toEqual([])
      expect(await ids('')).toEqual([])
      expect(await s.reads.search('acme', 'invoices', 'harbour', 5)).toEqual([])
    })

    it('[RR3d] fillSearchText: records stored before search texts get theirs from their fields; their JSON text is searched until then', async () => {
      await w.edit('acme', 'customers', 'old1', { fields: { name: 'Oldie', tags: ['legacy'] } })
      await w.edit('acme', 'customers', 'old2', { fields: { name: 'Other', email: 'x@y.test' } })
      await w.edit('acme', 'customers', 'new1', { fields: { name: 'Newer', email: 'legacy@y.test' } })
      await s.sql("UPDATE records SET search_text = NULL WHERE id IN ('old1', 'old2')")
      const found = async (q: string) => (await s.reads.list('acme', 'customers', { q })).items.map((r) => r.id)

      expect(await found('name')).toEqual(['old1', 'old2'])
      expect(await s.reads.fillSearchText()).toBe(2)
      expect(await s.reads.fillSearchText()).toBe(0)
      expect(await found('name')).toEqual([])
      expect(await found('email')).toEqual([])
      expect(await found('LEGACY')).toEqual(['new1', 'old1'])
      // What the fill writes is what the projection writes.
      const projected = await s.sql("SELECT search_text FROM records WHERE id = 'new1'")
      expect(projected).toEqual([{ search_text: 'Newer\u001flegacy@y.test' }])
      await s.sql("UPDATE records SET search_text = NULL WHERE id = 'new1'")
      expect(await s.reads.fillSearchText()).toBe(1)
      expect(await s.sql("SELECT search_text FROM records WHERE id = 'new1'")).toEqual(projected)
    })

    it('[RR4] history: newest first, who changed which parts when, and the values that lost', async () => {
      await w.edit('acme', 'deals', 'd', { fields: { title: 'Deal' } }, 'u1', T0)
      await w.edit('acme', 'deals', 'd', { fields: { stage: 'won' } }, 'u2', T0 + 60_000)
      await w.edit(
        'acme',
        'deals',
        'd',
        { fields: { amount: 5 }, overwritten: [{ part: 'amount', value: 4, author: 'u2', keptBy: 'u3' }] },
        'u3',
        T0 + 120_000,
      )
      await w.edit('acme', 'deals', 'd', { fields: { stage: 'lost' } }, null, T0 + 180_000)
      expect((await s.reads.history('acme', 'deals', 'd')).items).toEqual([
        { at: new Date(T0 + 180_000).toISOString(), userId: null, fields: ['stage'], overwritten: [] },
        {
          at: new Date(T0 + 120_000).toISOString(),
          userId: 'u3',
          fields: ['amount'],
          overwritten: [{ field: 'amount', value: 4, userId: 'u2' }],
        },
        { at: new Date(T0 + 60_000).toISOString(), userId: 'u2', fields: ['stage'], overwritten: [] },
        { at: new Date(T0).toISOString(), userId: 'u1', fields: ['title'], overwritten: [] },
      ])
      expect((await s.reads.get('acme', 'deals', 'd')).version).toBe(4)
    })

    it('[RR5] incomplete, stored and storedFields: what start-up and a repair on load read, deleted and incomplete records included', async () => {
      await w.edit('acme', 'events', 'e2', { fields: { title: 'Later' } }, 'u1', T0 + 2000)
      await w.edit(
        'acme',
        'events',
        'e1',
        { fields: { title: 'Sooner', start: '2031-03-02T10:00:00Z', end: '2031-03-02T11:00:00Z' } },
        'u1',
        T0,
      )
      await w.edit(
        'globex',
        'events',
        'e0',
        { fields: { title: 'Tie', start: '2031-03-02T10:00:00Z', end: '2031-03-02T11:00:00Z' } },
        'u1',
        T0 + 2000,
      )
      await w.edit(
        'acme',
        'events',
        'e3',
        { fields: { title: 'Deleted', start: '2031-03-02T10:00:00Z', end: '2031-03-02T11:00:00Z' } },
        'u1',
        T0 + 1000,
      )
      await w.edit('acme', 'events', 'e3', { deleted: true }, 'u1', T0 + 1000)
      await w.edit('acme', 'leads', 'l1', { fields: { email: 'x@y.test' } }, 'u1', T0)

      expect((await s.reads.incomplete()).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
        { workspace: 'acme', collection: 'events', id: 'e2' },
        { workspace: 'acme', collection: 'leads', id: 'l1' },
      ])
      const stored = await s.reads.stored('events')
      // Oldest change first; the same time in id order.
      expect(stored.map((r) => `${r.workspace}/${r.id}`)).toEqual(['acme/e1', 'acme/e3', 'globex/e0', 'acme/e2'])
      expect(stored[1]).toEqual({
        workspace: 'acme',
        id: 'e3',
        fields: { title: 'Deleted', start: '2031-03-02T10:00:00Z', end: '2031-03-02T11:00:00Z' },
        authority: { deleted: new Date(T0 + 1000).toISOString() },
      })
      expect(await s.reads.stored('invoices')).toEqual([])
      expect(await s.reads.storedFields({ workspace: 'acme', collection: 'leads', id: 'l1' })).toEqual({ email: 'x@y.test' })
      expect(await s.reads.storedFields({ workspace: 'acme', collection: 'leads', id: 'none' })).toBeUndefined()
    })

    it('[RR6] titles: of the ids asked for in one workspace and collection, deleted records included, unknown ids left out', async () => {
      await w.edit('acme', 'customers', 'c1', { fields: { name: 'Acme' } })
      await w.edit('acme', 'customers', 'c2', { fields: { name: 'Gone' } })
      await w.edit('acme', 'customers', 'c2', { deleted: true })
      await w.edit('acme', 'customers', 'c3', { fields: { email: 'no@name.test' } })
      await w.edit('acme', 'deals', 'c1', { fields: { title: 'a deal, not a customer' } })
      await w.edit('globex', 'customers', 'c4', { fields: { name: 'elsewhere' } })
      const titles = await s.reads.titles('acme', 'customers', ['c1', 'c2', 'c3', 'c4', 'nope', "it's"])
      expect([...titles].sort()).toEqual([
        ['c1', 'Acme'],
        ['c2', 'Gone'],
        ['c3', '(untitled)'],
      ])
      expect(await s.reads.titles('acme', 'customers', [])).toEqual(new Map())
      const many = Array.from({ length: 1200 }, (_, i) => `x${i}`)
      expect((await s.reads.titles('acme', 'customers', [...many, 'c1'])).get('c1')).toBe('Acme')
    })

    it('[IN1] invoice numbers: 1, 2, 3 per workspace, the same number when asked again, kept for good', async () => {
      expect(await s.numbers.assign('acme', 'a')).toBe(1)
      expect(await s.numbers.assign('acme', 'b')).toBe(2)
      expect(await s.numbers.assign('globex', 'a')).toBe(1)
      expect(await s.numbers.assign('acme', 'a')).toBe(1)
      expect(await s.numbers.assign('acme', 'c')).toBe(3)
      expect(await s.numbers.numberOf('acme', 'b')).toBe(2)
      expect(await s.numbers.numberOf('acme', 'none')).toBeUndefined()
      const other = await s.other()
      expect(await other.numbers.numberOf('globex', 'a')).toBe(1)
      expect(await other.numbers.assign('globex', 'b')).toBe(2)
      const all = (await s.numbers.all()).sort((x, y) => `${x.workspace}${x.number}`.localeCompare(`${y.workspace}${y.number}`))
      expect(all).toEqual([
        { workspace: 'acme', invoiceId: 'a', number: 1 },
        { workspace: 'acme', invoiceId: 'b', number: 2 },
        { workspace: 'acme', invoiceId: 'c', number: 3 },
        { workspace: 'globex', invoiceId: 'a', number: 1 },
        { workspace: 'globex', invoiceId: 'b', number: 2 },
      ])
    })

    it('[IN2] 200 invoices numbered at once through two connections, each asked for twice: exactly 1..200, one number per invoice', async () => {
      const other = await s.other()
      const ids = Array.from({ length: 200 }, (_, i) => `inv${i}`)
      // Every invoice from both sides, in opposite orders, all at once.
      const [mine, theirs] = await Promise.all([
        Promise.all(ids.map((id) => s.numbers.assign('acme', id))),
        Promise.all([...ids].reverse().map((id) => other.numbers.assign('acme', id))),
      ])
      expect(theirs.reverse()).toEqual(mine)
      expect([...mine].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i + 1))
      expect((await s.numbers.all()).map((n) => n.number).sort((a, b) => a - b)).toEqual(ids.map((_, i) => i + 1))
      expect(await s.numbers.assign('acme', 'next')).toBe(201)
    })

    const notice = (n: number): ServerNotice => ({ type: 'rejected', reason: 'invalid', issues: [{ path: 'n', message: String(n) }] })

    it('[NO1] the outbox keeps notices per user and document and hands them over once, oldest first', async () => {
      await s.outbox.keep('acme/deals/d', 'u1', notice(1), T0)
      await s.outbox.keep('acme/deals/d', 'u1', notice(2), T0 + 1)
      await s.outbox.keep('acme/deals/d', 'u2', notice(3), T0 + 2)
      await s.outbox.keep('acme/deals/e', 'u1', notice(4), T0 + 3)
      expect(await s.outbox.take('acme/deals/d', 'u1', T0 + 10)).toEqual([notice(1), notice(2)])
      expect(await s.outbox.take('acme/deals/d', 'u1', T0 + 10)).toEqual([])
      expect(await s.outbox.take('acme/deals/d', 'u2', T0 + 10)).toEqual([notice(3)])
      expect(await s.outbox.take('acme/deals/e', 'u1', T0 + 10)).toEqual([notice(4)])
    })

    it('[NO2] only the newest notices of a user on a document are kept, and none past their time', async () => {
      for (let i = 0; i < NOTICES_KEPT_PER_DOC + 5; i++) await s.outbox.keep('acme/deals/d', 'u1', notice(i), T0 + i)
      await s.outbox.keep('acme/deals/e', 'u1', notice(-1), T0 - NOTICE_TTL_MS)
      await s.outbox.keep('acme/deals/f', 'u1', notice(-2), T0 - NOTICE_TTL_MS)
      const kept = await s.outbox.take('acme/deals/d', 'u1', T0 + 100)
      expect(kept).toEqual(Array.from({ length: NOTICES_KEPT_PER_DOC }, (_, i) => notice(i + 5)))
      // Expired: not handed over, and deleted at start.
      expect(await s.outbox.take('acme/deals/e', 'u1', T0)).toEqual([])
      expect(await s.outbox.expire(T0)).toBe(1)
      expect(await s.outbox.take('acme/deals/f', 'u1', T0 - NOTICE_TTL_MS + 1)).toEqual([])
    })

    it('[NO3] two connections taking the same notices at once hand each over once', async () => {
      const other = await s.other()
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 5; i++) await s.outbox.keep('acme/deals/d', 'u1', notice(round * 10 + i), T0 + i)
        const [a, b] = await Promise.all([s.outbox.take('acme/deals/d', 'u1', T0), other.outbox.take('acme/deals/d', 'u1', T0)])
        expect([...a, ...b]).toHaveLength(5)
        expect(a.length === 0 || b.length === 0).toBe(true)
      }
    })
  })
}

storesContract('SQLite', () => async () => {
  const dir = tempDir('accord-records-')
  const file = join(dir, 'accord.db')
  const db = openDatabase(file)
  const store = new InlineDocStore(db)
  const others: ReturnType<typeof openDatabase>[] = []
  return {
    store,
    reads: new SqliteRecordReads(db),
    numbers: new SqliteInvoiceNumbers(db),
    outbox: new SqliteNoticeOutbox(db),
    async other() {
      const second = openDatabase(file)
      others.push(second)
      return { numbers: new SqliteInvoiceNumbers(second), outbox: new SqliteNoticeOutbox(second) }
    },
    async sql(text) {
      const statement = db.prepare(text)
      if (statement.reader) return statement.all() as Record<string, unknown>[]
      statement.run()
      return []
    },
    async dispose() {
      await store.close()
      for (const second of others) second.close()
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

storesContract(
  'PostgreSQL',
  () => {
    // A locale whose order is not the bytes' and whose ILIKE folds `Ä`: what SQLite does not.
    const database = useMigratedDatabase({ icuLocale: 'en-US' })
    return async () => {
      const pools: Pool[] = []
      return {
        store: new PgDocStore(database.pool),
        reads: new PgRecordReads(database.pool),
        numbers: new PgInvoiceNumbers(database.pool),
        outbox: new PgNoticeOutbox(database.pool),
        async other() {
          const pool = await openPool(database.url, { max: 4 })
          pools.push(pool)
          return { numbers: new PgInvoiceNumbers(pool), outbox: new PgNoticeOutbox(pool) }
        },
        async sql(text) {
          return (await database.pool.query(text)).rows
        },
        async dispose() {
          await Promise.all(pools.map((pool) => pool.end()))
          await database.pool.query(
            'TRUNCATE docs, doc_updates, doc_snapshots, doc_clients, history, records, invoice_counters, invoice_numbers, pending_notices',
          )
        },
      }
    }
  },
  skipPg,
)
