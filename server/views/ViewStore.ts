/**
 * Where each person's saved list views are kept (`saved_views`: one row per workspace, user
 * and view id; SQLite migration 12, PostgreSQL migration 13). One set of queries for both
 * databases (`sqliteViewStore`, `pgViewStore`), held to one contract
 * (test/views.contract.test.ts). A view's columns, sort and filters are stored as the JSON
 * that `viewBodySchema` accepted; the routes check it before it gets here.
 */
import { createHash } from 'node:crypto'
import type { SavedView, ViewBody } from '../../shared/views.js'
import { numbered } from '../pg/numbered.js'
import type { Pool } from '../pg/openPool.js'
import { type Db, statementCache } from '../store/openDatabase.js'

/** Whose views: one person of one workspace. */
export interface ViewOwner {
  workspace: string
  userId: string
}

export interface ViewStore {
  /** The owner's views, by collection then name. */
  list(owner: ViewOwner): Promise<SavedView[]>
  /** Creates or replaces the owner's view `id`; returns it as stored. */
  put(owner: ViewOwner, id: string, body: ViewBody, now: number): Promise<SavedView>
  /** Deletes the owner's view `id`; false when the owner has none by that id. */
  remove(owner: ViewOwner, id: string): Promise<boolean>
}

interface ViewRow {
  id: string
  collection: string
  name: string
  definition: string | { columns: unknown; sort: unknown; filters: unknown }
  updated_at: number | string
}

const SQL = {
  list: 'SELECT id, collection, name, definition, updated_at FROM saved_views WHERE workspace = ? AND user_id = ? ORDER BY collection, name, id',
  put: `INSERT INTO saved_views (workspace, user_id, id, collection, name, definition, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (workspace, user_id, id) DO UPDATE SET
      collection = excluded.collection, name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at`,
  remove: 'DELETE FROM saved_views WHERE workspace = ? AND user_id = ? AND id = ? RETURNING id',
} as const

/** Runs one statement (`?` parameters) and returns its rows (none for a write without RETURNING). */
type Run = <R>(sql: string, params: readonly unknown[]) => Promise<R[]>

/** The store over either database: `sqliteViewStore` or `pgViewStore`. */
class SqlViewStore implements ViewStore {
  constructor(private readonly run: Run) {}

  async list({ workspace, userId }: ViewOwner): Promise<SavedView[]> {
    return (await this.run<ViewRow>(SQL.list, [workspace, userId])).map(viewOf)
  }

  async put({ workspace, userId }: ViewOwner, id: string, body: ViewBody, now: number): Promise<SavedView> {
    const { collection, name, columns, sort, filters } = body
    await this.run(SQL.put, [workspace, userId, id, collection, name, JSON.stringify({ columns, sort, filters }), now])
    return { id, collection, name, columns, sort, filters, updatedAt: new Date(now).toISOString() }
  }

  async remove({ workspace, userId }: ViewOwner, id: string): Promise<boolean> {
    return (await this.run(SQL.remove, [workspace, userId, id])).length > 0
  }
}

function viewOf(row: ViewRow): SavedView {
  const definition = typeof row.definition === 'string' ? JSON.parse(row.definition) : row.definition
  return {
    id: row.id,
    collection: row.collection,
    name: row.name,
    ...definition,
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  }
}

export function sqliteViewStore(db: Db): ViewStore {
  const prepared = statementCache(db)
  return new SqlViewStore(async <R>(sql: string, params: readonly unknown[]) => {
    const statement = prepared(sql)
    if (statement.reader) return statement.all(...params) as R[]
    statement.run(...params)
    return []
  })
}

/** The pool stays the caller's to end. Each statement is prepared once per connection. */
export function pgViewStore(pool: Pool): ViewStore {
  return new SqlViewStore(async <R>(sql: string, params: readonly unknown[]) => {
    const text = numbered(sql)
    const name = `views-${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
    return (await pool.query({ name, text, values: [...params] })).rows as R[]
  })
}
