/**
 * Reads of records for the REST API and exports, from the `records` projection (written in
 * the same transaction as the updates it reflects, so a read never shows what is not on disk).
 */
import type { Collection, FieldValues, LineItem } from '../../shared/collections.js'
import { HAS_ITEMS } from '../../shared/collections.js'
import { recordDocName } from '../../shared/docNames.js'
import type { Db } from '../store/openDatabase.js'
import type { StoredOverwrite } from '../store/historyRuns.js'
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
}

export const MAX_PAGE = 500
export const DEFAULT_PAGE = 50

export class RecordReads {
  constructor(private readonly db: Db) {}

  /** A record's fields as its projection row stored them (undefined for no row). */
  storedFields(name: { workspace: string; collection: Collection; id: string }): FieldValues | undefined {
    const row = this.db
      .prepare('SELECT fields FROM records WHERE workspace = ? AND collection = ? AND id = ?')
      .get(name.workspace, name.collection, name.id) as { fields: string } | undefined
    return row ? (JSON.parse(row.fields) as FieldValues) : undefined
  }

  /** Records stored lacking a required field (a version before the `complete` flag indexed them). */
  incomplete(): { workspace: string; collection: Collection; id: string }[] {
    return this.db.prepare('SELECT workspace, collection, id FROM records WHERE complete = 0').all() as Pick<
      RecordRow,
      'workspace' | 'collection' | 'id'
    >[]
  }

  get(workspace: string, collection: Collection, id: string): ApiRecord {
    return toApi(this.row(workspace, collection, id))
  }

  /** A record and its ETag from one read of its row, so the two always describe the same state. */
  current(workspace: string, collection: Collection, id: string): CurrentRecord {
    const row = this.row(workspace, collection, id)
    return { record: toApi(row), etag: row.etag }
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
      const pattern = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
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

  /**
   * A record's history, newest first: who changed which parts when, and the values that lost to
   * a concurrent one on the entry of the change that was kept (`overwritten`, empty when none).
   */
  history(workspace: string, collection: Collection, id: string): { items: HistoryEntry[] } {
    this.row(workspace, collection, id)
    const rows = this.db
      .prepare('SELECT at, user_id, fields, overwritten FROM history WHERE doc = ? ORDER BY seq DESC LIMIT 500')
      .all(recordDocName(workspace, collection, id)) as { at: number; user_id: string | null; fields: string; overwritten: string | null }[]
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
  row(workspace: string, collection: Collection, id: string): RecordRow {
    const row = this.db.prepare('SELECT * FROM records WHERE workspace = ? AND collection = ? AND id = ?').get(workspace, collection, id) as
      | RecordRow
      | undefined
    if (!row || row.deleted || !row.complete) throw new RecordError('not-found', `no ${collection} record ${id}`)
    return row
  }
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
