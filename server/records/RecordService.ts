/**
 * Records through the server: every write is a transaction on the live document (so it
 * merges with open editors and is persisted like any edit); reads come from the
 * `records` projection, which is written in the same transaction as the updates.
 */
import { createHash } from 'node:crypto'
import * as Y from 'yjs'
import {
  type Collection,
  type FieldIssue,
  type FieldValues,
  FIELD_DEFAULTS,
  HAS_ITEMS,
  type LineItem,
  checkField,
  checkItems,
  checkRecord,
  isComplete,
  recordTitle,
} from '../../shared/collections.js'
import {
  ITEMS,
  type IndexEntry,
  NOTES,
  authorityOf,
  fieldsOf,
  indexEntriesOf,
  itemToYMap,
  itemsOf,
  notesOf,
  readPlainMap,
  readRecord,
} from '../../shared/docLayout.js'
import { type DocName, indexDocName, newRecordId, recordDocName } from '../../shared/docNames.js'
import type { RecordProjection } from '../store/DocStore.js'
import type { Db } from '../store/openDatabase.js'
import type { DocRegistry } from '../sync/DocRegistry.js'
import type { PendingUpdate, Room } from '../sync/Room.js'
import { serverOrigin } from '../sync/types.js'

/** A record as the REST API returns it. */
export type ApiRecord = FieldValues & {
  id: string
  collection: Collection
  notes: string
  items?: LineItem[]
  updatedAt: string
  updatedBy: string | null
}

export class RecordError extends Error {
  constructor(
    readonly code: 'invalid' | 'not-found' | 'precondition-failed',
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message)
  }
}

interface RecordRow {
  workspace: string
  collection: Collection
  id: string
  fields: string
  notes: string
  items: string
  authority: string
  deleted: number
  complete: number
  etag: string
  updated_at: number
  updated_by: string | null
}

export interface ListQuery {
  q?: string
  limit?: number
  cursor?: string
}

export const MAX_PAGE = 500
export const DEFAULT_PAGE = 50

/**
 * An index entry changes with a record's title, fields, authority and its last editor.
 * When only the notes or line items changed (typing), the entry's "updated" time and
 * editor are refreshed at most this often, not on every keystroke.
 */
export const INDEX_CONTENT_REFRESH_MS = 2000
/** Index entries written per transaction (a thousand take about 10 ms to apply and encode). */
const INDEX_WRITE_CHUNK = 100

export class RecordService {
  /** Index refreshes waiting after notes or items edits, by index document, then record id. */
  private readonly laterIndex = new Map<string, Map<string, IndexEntry | null>>()
  /** Writes `laterIndex`, INDEX_CONTENT_REFRESH_MS after the first of them. */
  private laterTimer: NodeJS.Timeout | null = null

  constructor(
    private readonly db: Db,
    private readonly registry: DocRegistry,
  ) {
    registry.onPersisted((room, persisted, projection) => this.handlePersisted(room, persisted, projection))
    registry.onLoad((room) => this.keepIndexWith(room))
  }

  /** Writes the index refreshes still waiting (call before the registry closes). */
  async close(): Promise<void> {
    await this.writeLaterIndex()
  }

  /** Writes the waiting index refreshes: one transaction per index document. */
  private writeLaterIndex(): Promise<void> {
    if (this.laterTimer) clearTimeout(this.laterTimer)
    this.laterTimer = null
    const waiting = [...this.laterIndex]
    this.laterIndex.clear()
    return Promise.all(waiting.map(([indexName, entries]) => this.writeIndexEntries(indexName, entries))).then(() => undefined)
  }

  /**
   * A collection's index stays loaded, and parsed, while any of its records is: every edit
   * of a record may refresh its entry, and parsing a large index (tens of milliseconds for
   * thousands of entries) belongs to opening a record, not to the middle of someone's typing.
   */
  private keepIndexWith(room: Room): (() => void) | void {
    const name = room.name
    if (name.kind !== 'record') return
    const index = this.registry.open(indexDocName(name.workspace, name.collection))
    index.retain()
    void index.doc
    return () => index.release()
  }

  /** A record's fields as its projection row stored them (undefined for no row, or another kind of document). */
  storedFields(name: DocName): FieldValues | undefined {
    if (name.kind !== 'record') return undefined
    const row = this.db.prepare('SELECT fields FROM records WHERE workspace = ? AND collection = ? AND id = ?').get(name.workspace, name.collection, name.id) as
      | { fields: string }
      | undefined
    return row ? (JSON.parse(row.fields) as FieldValues) : undefined
  }

  /** The projection row of a record room after its updates (DocRegistry `project` option). */
  static project(room: Room, persisted: PendingUpdate[]): RecordProjection | undefined {
    const name = room.name
    if (name.kind !== 'record') return undefined
    const state = readRecord(room.doc)
    if (Object.keys(state.fields).length === 0 && Object.keys(state.authority).length === 0) return undefined
    const authors = persisted.map((p) => p.author).filter((a): a is string => a !== null)
    return {
      workspace: name.workspace,
      collection: name.collection,
      id: name.id,
      fields: state.fields,
      notes: state.notes,
      items: state.items,
      authority: state.authority,
      deleted: typeof state.authority.deleted === 'string',
      complete: isComplete(name.collection, state.fields),
      etag: etagOf(room.doc),
      updatedAt: persisted.at(-1)?.at ?? Date.now(),
      updatedBy: authors.at(-1) ?? null,
    }
  }

  async create(workspace: string, collection: Collection, input: Record<string, unknown>, userId: string): Promise<ApiRecord> {
    const { notes, items, fields } = splitInput(collection, input)
    const complete = { ...FIELD_DEFAULTS[collection], ...fields }
    const issues = [...checkRecord(collection, complete), ...(items ? checkItems(items) : [])]
    if (issues.length > 0) throw new RecordError('invalid', 'the record is not valid', issues)
    const id = newRecordId()
    await this.registry.use(recordDocName(workspace, collection, id), (room) => {
      room.doc.transact(() => {
        const map = fieldsOf(room.doc)
        for (const [key, value] of Object.entries(complete)) map.set(key, value)
        if (notes) notesOf(room.doc).insert(0, notes)
        if (items) itemsOf(room.doc).push(items.map(itemToYMap))
      }, serverOrigin('api', userId))
    })
    return this.get(workspace, collection, id)
  }

  /**
   * Applies a patch as one transaction on the live document. `ifMatch` makes it a
   * compare-and-set against the record's current ETag.
   */
  async patch(
    workspace: string,
    collection: Collection,
    id: string,
    input: Record<string, unknown>,
    userId: string,
    ifMatch?: string,
  ): Promise<ApiRecord> {
    this.getRow(workspace, collection, id)
    const { notes, items, fields } = splitInput(collection, input)
    await this.registry.use(recordDocName(workspace, collection, id), (room) => {
      if (ifMatch !== undefined && ifMatch !== '*' && !this.isCurrent(room, workspace, collection, id, stripQuotes(ifMatch))) {
        throw new RecordError('precondition-failed', 'the record changed since that version')
      }
      const merged: FieldValues = readPlainMap(fieldsOf(room.doc))
      for (const [key, value] of Object.entries(fields)) {
        if (value === null) delete merged[key]
        else merged[key] = value
      }
      const issues = [...checkRecord(collection, merged), ...(items ? checkItems(items) : [])]
      if (issues.length > 0) throw new RecordError('invalid', 'the change is not valid', issues)
      room.doc.transact(() => {
        const map = fieldsOf(room.doc)
        for (const [key, value] of Object.entries(fields)) {
          if (value === null) map.delete(key)
          else if (JSON.stringify(map.get(key)) !== JSON.stringify(value)) map.set(key, value)
        }
        if (notes !== undefined) replaceText(notesOf(room.doc), notes)
        if (items) {
          const array = itemsOf(room.doc)
          array.delete(0, array.length)
          array.push(items.map(itemToYMap))
        }
      }, serverOrigin('api', userId))
    })
    return this.get(workspace, collection, id)
  }

  async remove(workspace: string, collection: Collection, id: string, userId: string): Promise<void> {
    this.getRow(workspace, collection, id)
    await this.registry.use(recordDocName(workspace, collection, id), (room) => {
      room.doc.transact(() => authorityOf(room.doc).set('deleted', new Date().toISOString()), serverOrigin('api', userId))
    })
  }

  get(workspace: string, collection: Collection, id: string): ApiRecord {
    return toApi(this.getRow(workspace, collection, id))
  }

  /**
   * Whether `etag` names the record's current state: the live document's, or, when
   * everything applied is on disk, the one stored with it (written before ETags covered
   * deletions, by a version that has not written the record since).
   */
  private isCurrent(room: Room, workspace: string, collection: Collection, id: string, etag: string): boolean {
    if (etag === etagOf(room.doc)) return true
    return room.unpersisted === 0 && etag === this.getRow(workspace, collection, id).etag
  }

  etag(workspace: string, collection: Collection, id: string): string {
    return this.getRow(workspace, collection, id).etag
  }

  list(workspace: string, collection: Collection, query: ListQuery): { items: ApiRecord[]; nextCursor: string | null } {
    const limit = Math.min(Math.max(query.limit ?? DEFAULT_PAGE, 1), MAX_PAGE)
    const params: unknown[] = [workspace, collection]
    let sql = 'SELECT * FROM records WHERE workspace = ? AND collection = ? AND deleted = 0 AND complete = 1'
    if (query.cursor) {
      sql += ' AND id > ?'
      params.push(query.cursor)
    }
    if (query.q) {
      sql += " AND (fields LIKE ? ESCAPE '\\' OR notes LIKE ? ESCAPE '\\')"
      const pattern = `%${query.q.replace(/[\\%_]/g, (c) => '\\' + c)}%`
      params.push(pattern, pattern)
    }
    sql += ' ORDER BY id LIMIT ?'
    params.push(limit + 1)
    const rows = this.db.prepare(sql).all(...params) as RecordRow[]
    const page = rows.slice(0, limit)
    return { items: page.map(toApi), nextCursor: rows.length > limit ? page.at(-1)!.id : null }
  }

  /** Every live record of a collection (exports). */
  all(workspace: string, collection: Collection): ApiRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM records WHERE workspace = ? AND collection = ? AND deleted = 0 AND complete = 1 ORDER BY id')
      .all(workspace, collection) as RecordRow[]
    return rows.map(toApi)
  }

  history(workspace: string, collection: Collection, id: string): { items: { at: string; userId: string | null; fields: string[] }[] } {
    this.getRow(workspace, collection, id)
    const rows = this.db
      .prepare('SELECT at, user_id, fields FROM history WHERE doc = ? ORDER BY seq DESC LIMIT 500')
      .all(recordDocName(workspace, collection, id)) as { at: number; user_id: string | null; fields: string }[]
    return { items: rows.map((r) => ({ at: new Date(r.at).toISOString(), userId: r.user_id, fields: JSON.parse(r.fields) as string[] })) }
  }

  /** The row of a live, complete record; not-found for a deleted one or one still lacking a required field. */
  private getRow(workspace: string, collection: Collection, id: string): RecordRow {
    const row = this.db.prepare('SELECT * FROM records WHERE workspace = ? AND collection = ? AND id = ?').get(workspace, collection, id) as
      | RecordRow
      | undefined
    if (!row || row.deleted || !row.complete) throw new RecordError('not-found', `no ${collection} record ${id}`)
    return row
  }

  /**
   * Removes the index entries of records stored incomplete: a version before the
   * `complete` flag indexed them, and nothing else would take them out until they change
   * again (start-up; loads only the index documents of collections holding such records).
   */
  dropIncompleteFromIndex(): Promise<void> {
    const rows = this.db.prepare('SELECT workspace, collection, id FROM records WHERE complete = 0').all() as Pick<RecordRow, 'workspace' | 'collection' | 'id'>[]
    const byIndex = new Map<string, Map<string, IndexEntry | null>>()
    for (const row of rows) {
      const indexName = indexDocName(row.workspace, row.collection)
      let changes = byIndex.get(indexName)
      if (!changes) byIndex.set(indexName, (changes = new Map()))
      changes.set(row.id, null)
    }
    return Promise.all([...byIndex].map(([indexName, changes]) => this.writeIndexEntries(indexName, changes))).then(() => undefined)
  }

  /** Keeps the collection's index document in step with a record's projection: a deleted or incomplete record has no entry. */
  private handlePersisted(room: Room, persisted: PendingUpdate[], projection: RecordProjection | undefined): void {
    const name = room.name
    if (name.kind !== 'record') return
    if (!projection) return
    const entry: IndexEntry | null =
      projection.deleted || !projection.complete
        ? null
        : {
            id: name.id,
            title: recordTitle(name.collection, projection.fields),
            fields: projection.fields,
            authority: projection.authority,
            updatedAt: new Date(projection.updatedAt).toISOString(),
            updatedBy: projection.updatedBy,
          }
    const indexName = indexDocName(name.workspace, name.collection)
    const contentOnly = persisted.every((p) => p.changed.length > 0 && p.changed.every((part) => part === NOTES || part === ITEMS))
    if (contentOnly) {
      let waiting = this.laterIndex.get(indexName)
      if (!waiting) this.laterIndex.set(indexName, (waiting = new Map()))
      waiting.set(name.id, entry)
      if (!this.laterTimer) {
        this.laterTimer = setTimeout(() => void this.writeLaterIndex(), INDEX_CONTENT_REFRESH_MS)
        this.laterTimer.unref()
      }
      return
    }
    this.laterIndex.get(indexName)?.delete(name.id)
    void this.writeIndexEntries(indexName, new Map([[name.id, entry]]))
  }

  /** Sets (or, for null, deletes) entries of an index document, in one transaction. */
  private writeIndexEntries(indexName: string, changes: Map<string, IndexEntry | null>): Promise<void> {
    if (changes.size === 0) return Promise.resolve()
    return this.registry
      .use(indexName, async (index) => {
        const entries = indexEntriesOf(index.doc)
        const due = (id: string, entry: IndexEntry | null) => {
          const current = entries.get(id)
          if (entry === null) return current !== undefined
          // Written meanwhile from a newer state of the record (a chunk waited its turn).
          if (current && current.updatedAt > entry.updatedAt) return false
          return !(current && current.updatedBy === entry.updatedBy && sameSummary(current, entry))
        }
        const all = [...changes]
        for (let i = 0; i < all.length && index.state !== 'closed'; i += INDEX_WRITE_CHUNK) {
          // A transaction per chunk, each in its own turn: other documents' updates go between.
          if (i > 0) await new Promise((resolve) => setImmediate(resolve))
          const chunk = all.slice(i, i + INDEX_WRITE_CHUNK).filter(([id, entry]) => due(id, entry))
          if (chunk.length === 0) continue
          index.doc.transact(() => {
            for (const [id, entry] of chunk) {
              if (entry === null) entries.delete(id)
              else entries.set(id, entry)
            }
          }, serverOrigin('index'))
        }
      })
      .catch(() => undefined)
  }
}

function sameSummary(a: IndexEntry, b: IndexEntry): boolean {
  return a.title === b.title && JSON.stringify(a.fields) === JSON.stringify(b.fields) && JSON.stringify(a.authority) === JSON.stringify(b.authority)
}

/**
 * The record's version: a digest of what the document holds, its state vector (what was
 * inserted) and its delete set (what was deleted). A deletion inserts nothing, so the
 * state vector alone would keep the ETag of a record whose text was just cut.
 */
export function etagOf(doc: Y.Doc): string {
  return createHash('sha1').update(Y.encodeSnapshot(Y.snapshot(doc))).digest('base64url').slice(0, 16)
}

function stripQuotes(value: string): string {
  return value.replace(/^W\//, '').replace(/^"|"$/g, '')
}

/** Splits REST input into fields, notes and items, and checks field names and types. */
function splitInput(collection: Collection, input: Record<string, unknown>): { fields: FieldValues; notes?: string; items?: LineItem[] } {
  const issues: FieldIssue[] = []
  const fields: FieldValues = {}
  let notes: string | undefined
  let items: LineItem[] | undefined
  for (const [key, value] of Object.entries(input)) {
    if (key === 'notes') {
      if (typeof value !== 'string') issues.push({ path: 'notes', message: 'notes must be a string' })
      else notes = value
    } else if (key === 'items') {
      if (!HAS_ITEMS[collection]) issues.push({ path: 'items', message: `${collection} have no items` })
      else {
        const itemIssues = checkItems(value)
        if (itemIssues.length > 0) issues.push(...itemIssues)
        else items = value as LineItem[]
      }
    } else if (value === null) {
      const unknown = checkField(collection, key, '')
      if (unknown?.message.startsWith('unknown field')) issues.push(unknown)
      else fields[key] = null
    } else {
      const issue = checkField(collection, key, value)
      if (issue) issues.push(issue)
      else fields[key] = value
    }
  }
  if (issues.length > 0) throw new RecordError('invalid', 'the input is not valid', issues)
  return { fields, notes, items }
}

function replaceText(text: Y.Text, value: string): void {
  const current = text.toString()
  if (current === value) return
  let start = 0
  while (start < current.length && start < value.length && current[start] === value[start]) start++
  let end = 0
  while (end < current.length - start && end < value.length - start && current[current.length - 1 - end] === value[value.length - 1 - end]) end++
  text.delete(start, current.length - start - end)
  text.insert(start, value.slice(start, value.length - end))
}

function toApi(row: RecordRow): ApiRecord {
  const fields = JSON.parse(row.fields) as FieldValues
  const authority = JSON.parse(row.authority) as FieldValues
  const record: ApiRecord = {
    ...fields,
    ...authority,
    id: row.id,
    collection: row.collection,
    notes: row.notes,
    updatedAt: new Date(row.updated_at).toISOString(),
    updatedBy: row.updated_by,
  }
  if (HAS_ITEMS[row.collection]) record.items = JSON.parse(row.items) as LineItem[]
  return record
}
