/**
 * Reads of records for the REST API, exports and start-up, from the `records` projection and
 * the `history` table (both written by the document store in the same transaction as the
 * updates they reflect, so a read never shows what is not on disk). One set of queries for
 * SQLite and PostgreSQL (`SqliteRecordReads`, `PgRecordReads`): lists, search and paging give
 * the same answers on both (test/recordReads.contract.test.ts).
 */
import { createHash } from 'node:crypto'
import type { Collection, FieldValues, LineItem } from '../../shared/collections.js'
import { HAS_ITEMS, TITLE_FIELDS, isCollection, recordTitle } from '../../shared/collections.js'
import { recordDocName } from '../../shared/docNames.js'
import { type Searchable, searchable, searchText } from '../../shared/search.js'
import { numbered } from '../pg/numbered.js'
import type { Pool } from '../pg/openPool.js'
import type { StoredOverwrite } from '../store/historyRuns.js'
import { storedValue } from '../store/upsertSql.js'
import { type Db, statementCache } from '../store/openDatabase.js'
import { RecordError } from './RecordError.js'

/** A record as the REST API returns it. */
export type ApiRecord = FieldValues & {
  id: string
  collection: Collection
  notes: string
  items?: LineItem[]
  updatedAt: string
  updatedBy: string | null
  /** How many changes were accepted into the record so far (its updates, the server's own included); only ever grows. */
  version: number
}

/** A record as it is stored now, with the ETag an `If-Match` must name to change it. */
export interface CurrentRecord {
  record: ApiRecord
  etag: string
}

/** Which record: its workspace, collection and id. */
export interface RecordKey {
  workspace: string
  collection: Collection
  id: string
}

/** A stored record as the projection holds it, deleted and incomplete ones included (start-up reconciliation). */
export interface StoredRecord {
  workspace: string
  id: string
  fields: FieldValues
  authority: FieldValues
}

/** One entry of a record's history (`GET /api/records/:collection/:id/history`). */
export interface HistoryEntry {
  at: string
  userId: string | null
  fields: string[]
  /** Values of these fields that lost to this change, set concurrently by someone who had not seen it. */
  overwritten: { field: string; value: unknown; userId: string | null }[]
}

export interface ListQuery {
  q?: string
  limit?: number
  cursor?: string
  /** The deleted (complete) records instead of the live ones: the trash. */
  deleted?: boolean
}

export interface RecordPage {
  items: ApiRecord[]
  nextCursor: string | null
}

/** A record a search found: what shared/search.ts's `matchIn` reads to say where. */
export interface FoundRecord extends Searchable {
  id: string
}

export const MAX_PAGE = 500
/** Ids looked up by one query of `titles`. */
const TITLES_PER_QUERY = 500
export const DEFAULT_PAGE = 50
/** History entries a read returns at most, newest first. */
export const HISTORY_LIMIT = 500

export interface RecordReads {
  /** A record's fields as its projection row stored them (undefined for no row): what a repair on load falls back to. */
  storedFields(name: RecordKey): Promise<FieldValues | undefined>
  /** Records stored lacking a required field (a version before the `complete` flag indexed them). */
  incomplete(): Promise<RecordKey[]>
  /** Every stored record of `collection` in every workspace, oldest change first. */
  stored(collection: Collection): Promise<StoredRecord[]>
  /** A live, complete record; RecordError `not-found` for a deleted one or one still lacking a required field. */
  get(workspace: string, collection: Collection, id: string): Promise<ApiRecord>
  /** A record and its ETag from one read of its row, so the two always describe the same state. */
  current(workspace: string, collection: Collection, id: string): Promise<CurrentRecord>
  /** The ETag stored with a live, complete record; RecordError `not-found` as `get`. */
  etag(workspace: string, collection: Collection, id: string): Promise<string>
  /**
   * A page of a collection's live, complete records (or its deleted ones, `deleted`) in id
   * order (byte order, on both databases), after `cursor`; `q` matches a substring of a field
   * value or of the notes, as shared/search.ts says (never a field's name), ASCII letters in
   * either case: the record's `search_text` or its `notes` hold it.
   */
  list(workspace: string, collection: Collection, query: ListQuery): Promise<RecordPage>
  /**
   * At most `limit` live, complete records of a collection that `q` matches as `list`'s does:
   * those whose title field matches first, then the most recently changed.
   */
  search(workspace: string, collection: Collection, q: string, limit: number): Promise<FoundRecord[]>
  /**
   * Writes the search text (shared/search.ts, `searchText`) of the records stored before there
   * was one, from their stored fields; resolves with how many. Safe beside writers: a row whose
   * fields changed meanwhile is left to the projection that changed them.
   */
  fillSearchText(): Promise<number>
  /** Every live record of a collection (exports). */
  all(workspace: string, collection: Collection): Promise<ApiRecord[]>
  /**
   * The titles (`recordTitle`) of those of `ids` that are stored, deleted ones included: what a
   * reference to them is shown as (an export names a deal's customer even after it was deleted).
   */
  titles(workspace: string, collection: Collection, ids: readonly string[]): Promise<Map<string, string>>
  /**
   * A record's history, newest first: who changed which parts when, and the values that lost to
   * a concurrent one on the entry of the change that was kept (`overwritten`, empty when none).
   */
  history(workspace: string, collection: Collection, id: string): Promise<{ items: HistoryEntry[] }>
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
  version: number
}

interface HistoryRow {
  at: number
  user_id: string | null
  fields: string
  overwritten: string | null
}

const LIVE = 'deleted = 0 AND complete = 1'
const TRASHED = 'deleted = 1 AND complete = 1'
/** Rows `fillSearchText` writes per statement. */
const FILL_BATCH = 500

/**
 * The queries, written once with `?` parameters; a subclass runs them and says how a column
 * matches a search pattern on its database.
 */
abstract class SqlRecordReads implements RecordReads {
  /** Runs one query and returns its rows. */
  protected abstract rows<R>(sql: string, params: readonly unknown[]): Promise<R[]>
  /** SQL true when `column` matches the LIKE pattern of the next parameter (`\` escapes), ASCII letters in either case. */
  protected abstract matches(column: string): string
  /** SQL true when `column` is one of the strings of the next parameter, a JSON array. */
  protected abstract inJsonArray(column: string): string
  /** SQL for the text of the string field `name` of the `fields` column (null when it has none). */
  protected abstract fieldText(name: string): string
  /** A table of the objects of the next parameter, a JSON array, with their members `w`, `c`, `i`, `f` and `t` as text columns. */
  protected abstract jsonRows(): string

  /**
   * SQL true when the record's search text or notes match the LIKE pattern of the next two
   * parameters. A row a version before search texts wrote (a cluster being upgraded; filled at
   * the next start) is searched by its fields' JSON text meanwhile, as that version did.
   */
  private searched(): string {
    return `${this.matches('COALESCE(search_text, fields)')} OR ${this.matches('notes')}`
  }

  async storedFields(name: RecordKey): Promise<FieldValues | undefined> {
    const [row] = await this.rows<{ fields: string }>('SELECT fields FROM records WHERE workspace = ? AND collection = ? AND id = ?', [
      name.workspace,
      name.collection,
      name.id,
    ])
    return row ? (JSON.parse(row.fields) as FieldValues) : undefined
  }

  incomplete(): Promise<RecordKey[]> {
    return this.rows<RecordKey>('SELECT workspace, collection, id FROM records WHERE complete = 0', [])
  }

  async stored(collection: Collection): Promise<StoredRecord[]> {
    const rows = await this.rows<{ workspace: string; id: string; fields: string; authority: string }>(
      'SELECT workspace, id, fields, authority FROM records WHERE collection = ? ORDER BY updated_at, id',
      [collection],
    )
    return rows.map((row) => ({
      workspace: row.workspace,
      id: row.id,
      fields: JSON.parse(row.fields) as FieldValues,
      authority: JSON.parse(row.authority) as FieldValues,
    }))
  }

  async get(workspace: string, collection: Collection, id: string): Promise<ApiRecord> {
    return toApi(await this.row(workspace, collection, id))
  }

  async current(workspace: string, collection: Collection, id: string): Promise<CurrentRecord> {
    const row = await this.row(workspace, collection, id)
    return { record: toApi(row), etag: row.etag }
  }

  async etag(workspace: string, collection: Collection, id: string): Promise<string> {
    return (await this.row(workspace, collection, id)).etag
  }

  async list(workspace: string, collection: Collection, query: ListQuery): Promise<RecordPage> {
    const limit = Math.min(Math.max(query.limit ?? DEFAULT_PAGE, 1), MAX_PAGE)
    if (query.q && !searchable(query.q)) return { items: [], nextCursor: null }
    const params: unknown[] = [workspace, collection]
    let sql = `SELECT * FROM records WHERE workspace = ? AND collection = ? AND ${query.deleted ? TRASHED : LIVE}`
    if (query.cursor) {
      sql += ' AND id > ?'
      params.push(query.cursor)
    }
    if (query.q) {
      const pattern = likePattern(query.q)
      sql += ` AND (${this.searched()})`
      params.push(pattern, pattern)
    }
    sql += ' ORDER BY id LIMIT ?'
    params.push(limit + 1)
    const rows = await this.rows<RecordRow>(sql, params)
    const page = rows.slice(0, limit)
    return { items: page.map(toApi), nextCursor: rows.length > limit ? page.at(-1)!.id : null }
  }

  async search(workspace: string, collection: Collection, q: string, limit: number): Promise<FoundRecord[]> {
    if (!searchable(q)) return []
    const pattern = likePattern(q)
    const params: unknown[] = [workspace, collection, pattern, pattern]
    const title = TITLE_FIELDS[collection]
    let rank = ''
    if (title !== null) {
      rank = `CASE WHEN ${this.matches(this.fieldText(title))} THEN 0 ELSE 1 END, `
      params.push(pattern)
    }
    params.push(limit)
    const rows = await this.rows<{ id: string; fields: string; notes: string }>(
      `SELECT id, fields, notes FROM records WHERE workspace = ? AND collection = ? AND ${LIVE}
       AND (${this.searched()}) ORDER BY ${rank}updated_at DESC, id LIMIT ?`,
      params,
    )
    return rows.map((row) => ({ id: row.id, fields: JSON.parse(row.fields) as FieldValues, notes: row.notes }))
  }

  async fillSearchText(): Promise<number> {
    let filled = 0
    for (;;) {
      const rows = await this.rows<{ workspace: string; collection: string; id: string; fields: string }>(
        'SELECT workspace, collection, id, fields FROM records WHERE search_text IS NULL LIMIT ?',
        [FILL_BATCH],
      )
      if (rows.length === 0) return filled
      const texts = rows.map((row) => ({
        w: row.workspace,
        c: row.collection,
        i: row.id,
        f: row.fields,
        t: isCollection(row.collection) ? storedValue(searchText(row.collection, JSON.parse(row.fields) as FieldValues)) : '',
      }))
      const updated = await this.rows<{ id: string }>(
        `UPDATE records SET search_text = u.t FROM ${this.jsonRows()} AS u
         WHERE records.workspace = u.w AND records.collection = u.c AND records.id = u.i AND records.fields = u.f
         AND records.search_text IS NULL RETURNING records.id`,
        [JSON.stringify(texts)],
      )
      // None written: every row of the batch changed meanwhile, or was written by a version
      // that stores no search text (a cluster being upgraded); the next start fills them.
      if (updated.length === 0) return filled
      filled += updated.length
    }
  }

  async all(workspace: string, collection: Collection): Promise<ApiRecord[]> {
    const rows = await this.rows<RecordRow>(`SELECT * FROM records WHERE workspace = ? AND collection = ? AND ${LIVE} ORDER BY id`, [
      workspace,
      collection,
    ])
    return rows.map(toApi)
  }

  async titles(workspace: string, collection: Collection, ids: readonly string[]): Promise<Map<string, string>> {
    const titles = new Map<string, string>()
    for (let i = 0; i < ids.length; i += TITLES_PER_QUERY) {
      const rows = await this.rows<{ id: string; fields: string }>(
        `SELECT id, fields FROM records WHERE workspace = ? AND collection = ? AND ${this.inJsonArray('id')}`,
        [workspace, collection, JSON.stringify(ids.slice(i, i + TITLES_PER_QUERY))],
      )
      for (const row of rows) titles.set(row.id, recordTitle(collection, JSON.parse(row.fields) as FieldValues))
    }
    return titles
  }

  async history(workspace: string, collection: Collection, id: string): Promise<{ items: HistoryEntry[] }> {
    await this.row(workspace, collection, id)
    const rows = await this.rows<HistoryRow>(
      'SELECT at, user_id, fields, overwritten FROM history WHERE doc = ? ORDER BY seq DESC LIMIT ?',
      [recordDocName(workspace, collection, id), HISTORY_LIMIT],
    )
    return {
      items: rows.map((r) => ({
        at: new Date(r.at).toISOString(),
        userId: r.user_id,
        fields: JSON.parse(r.fields) as string[],
        overwritten:
          r.overwritten === null
            ? []
            : (JSON.parse(r.overwritten) as StoredOverwrite[]).map(({ part, value, author }) => ({ field: part, value, userId: author })),
      })),
    }
  }

  /** The row of a live, complete record; RecordError `not-found` for a deleted one or one still lacking a required field. */
  private async row(workspace: string, collection: Collection, id: string): Promise<RecordRow> {
    const [row] = await this.rows<RecordRow>('SELECT * FROM records WHERE workspace = ? AND collection = ? AND id = ?', [
      workspace,
      collection,
      id,
    ])
    if (!row || row.deleted || !row.complete) throw new RecordError('not-found', `no ${collection} record ${id}`)
    return row
  }
}

export class SqliteRecordReads extends SqlRecordReads {
  private readonly sql: ReturnType<typeof statementCache>

  constructor(db: Db) {
    super()
    this.sql = statementCache(db)
  }

  protected async rows<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    return this.sql(sql).all(...params) as R[]
  }

  /** SQLite's LIKE folds ASCII letters only. */
  protected matches(column: string): string {
    return `${column} LIKE ? ESCAPE '\\'`
  }

  protected inJsonArray(column: string): string {
    return `${column} IN (SELECT value FROM json_each(?))`
  }

  protected fieldText(name: string): string {
    return `(fields ->> '$.${name}')`
  }

  protected jsonRows(): string {
    return `(SELECT value ->> 'w' AS w, value ->> 'c' AS c, value ->> 'i' AS i, value ->> 'f' AS f, value ->> 't' AS t FROM json_each(?))`
  }
}

export class PgRecordReads extends SqlRecordReads {
  /** Prepared statements by query text (named: each is parsed once per connection). */
  private readonly statements = new Map<string, { name: string; text: string }>()

  /** The pool stays the caller's to end. */
  constructor(private readonly pool: Pool) {
    super()
  }

  protected async rows<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    let statement = this.statements.get(sql)
    if (!statement) {
      const text = numbered(sql)
      statement = { name: `records-${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text }
      this.statements.set(sql, statement)
    }
    return (await this.pool.query({ ...statement, values: [...params] })).rows as R[]
  }

  /**
   * ILIKE under the "C" collation folds ASCII letters only, as SQLite's LIKE does, whatever the
   * database's locale (under a Unicode one, `Ä` would find `ä` here and not on SQLite).
   */
  protected matches(column: string): string {
    return `(${column} COLLATE "C") ILIKE ? ESCAPE '\\'`
  }

  protected inJsonArray(column: string): string {
    return `${column} = ANY (SELECT json_array_elements_text(?::json))`
  }

  protected fieldText(name: string): string {
    return `(fields::json ->> '${name}')`
  }

  protected jsonRows(): string {
    return `(SELECT j ->> 'w' AS w, j ->> 'c' AS c, j ->> 'i' AS i, j ->> 'f' AS f, j ->> 't' AS t FROM json_array_elements(?::json) j)`
  }
}

/** `q` as a LIKE pattern of any text holding it, `%`, `_` and `\` escaped. */
function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
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
    version: row.version,
  }
  if (HAS_ITEMS[row.collection]) record.items = JSON.parse(row.items) as LineItem[]
  return record
}

/**
 * `reads` answering only once `written` resolves: every read waits for the projections of what
 * is already committed (the rows written just after their updates, see CommitQueue's
 * `projectAfterBroadcast`), so that a read after a write, or after an edit was broadcast,
 * finds it. `written` resolves at once when no row is due.
 */
export function readsAfter(reads: RecordReads, written: () => Promise<void>): RecordReads {
  return new Proxy(reads, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        await written()
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}
