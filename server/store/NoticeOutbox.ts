/**
 * Notices for people who were not connected when they were made (no socket open to the
 * document with notices on), kept until they next connect to that document. Bounded: the
 * newest `NOTICES_KEPT_PER_DOC` per user and document, none older than `NOTICE_TTL_MS`.
 * The same table on SQLite and PostgreSQL (`pending_notices`), one contract suite for both.
 */
import type { Transaction } from 'better-sqlite3'
import type { ServerNotice } from '../../shared/protocol.js'
import { inTransaction } from '../pg/inTransaction.js'
import { numbered } from '../pg/numbered.js'
import type { Pool } from '../pg/openPool.js'
import { type Db, statementCache } from './openDatabase.js'

/** Notices kept per user and document; older ones are dropped as new ones come. */
export const NOTICES_KEPT_PER_DOC = 50
/** How long a kept notice waits for its user. @default 30 days */
export const NOTICE_TTL_MS = 30 * 24 * 60 * 60 * 1000

export interface NoticeOutbox {
  /** Keeps a notice for `userId` on `docName`. */
  keep(docName: string, userId: string, notice: ServerNotice, at?: number): Promise<void>
  /** The notices kept for `userId` on `docName`, oldest first, removed from the outbox (each is taken once). */
  take(docName: string, userId: string, now?: number): Promise<ServerNotice[]>
  /** Deletes the notices nobody came back for within `NOTICE_TTL_MS` (at start); how many. */
  expire(now?: number): Promise<number>
}

/** The newest NOTICES_KEPT_PER_DOC of a user's notices on a document stay (parameters: user, doc, user, doc, how many). */
const TRIM = `DELETE FROM pending_notices WHERE user_id = ? AND doc = ? AND seq <= (
  SELECT seq FROM pending_notices WHERE user_id = ? AND doc = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`

export class SqliteNoticeOutbox implements NoticeOutbox {
  private readonly sql: ReturnType<typeof statementCache>
  private readonly keepOne: Transaction<(docName: string, userId: string, notice: string, at: number) => void>
  private readonly takeAll: Transaction<(docName: string, userId: string, now: number) => ServerNotice[]>

  constructor(db: Db) {
    this.sql = statementCache(db)
    this.keepOne = db.transaction((docName: string, userId: string, notice: string, at: number) => {
      this.sql('INSERT INTO pending_notices (doc, user_id, notice, at) VALUES (?, ?, ?, ?)').run(docName, userId, notice, at)
      this.sql(TRIM).run(userId, docName, userId, docName, NOTICES_KEPT_PER_DOC)
    })
    this.takeAll = db.transaction((docName: string, userId: string, now: number) => {
      const rows = this.sql('SELECT notice FROM pending_notices WHERE user_id = ? AND doc = ? AND at > ? ORDER BY seq').all(
        userId,
        docName,
        now - NOTICE_TTL_MS,
      ) as { notice: string }[]
      this.sql('DELETE FROM pending_notices WHERE user_id = ? AND doc = ?').run(userId, docName)
      return rows.map((row) => JSON.parse(row.notice) as ServerNotice)
    })
  }

  // BEGIN IMMEDIATE (as the document store's appends): a deferred transaction that reads, then
  // writes, fails at once with "database is locked" when the writer thread committed in between.
  async keep(docName: string, userId: string, notice: ServerNotice, at = Date.now()): Promise<void> {
    this.keepOne.immediate(docName, userId, JSON.stringify(notice), at)
  }

  async take(docName: string, userId: string, now = Date.now()): Promise<ServerNotice[]> {
    return this.takeAll.immediate(docName, userId, now)
  }

  async expire(now = Date.now()): Promise<number> {
    return this.sql('DELETE FROM pending_notices WHERE at <= ?').run(now - NOTICE_TTL_MS).changes
  }
}

const PG = {
  insert: 'INSERT INTO pending_notices (doc, user_id, notice, at) VALUES ($1, $2, $3, $4)',
  trim: numbered(TRIM),
  // One statement: two connections taking at once never both get a notice (the second's
  // DELETE waits for the first's row locks, then skips the rows it deleted).
  take: 'DELETE FROM pending_notices WHERE user_id = $1 AND doc = $2 RETURNING seq, notice, at',
  expire: 'DELETE FROM pending_notices WHERE at <= $1',
} as const

export class PgNoticeOutbox implements NoticeOutbox {
  /** The pool stays the caller's to end. */
  constructor(private readonly pool: Pool) {}

  async keep(docName: string, userId: string, notice: ServerNotice, at = Date.now()): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query({ name: 'notices-insert', text: PG.insert, values: [docName, userId, JSON.stringify(notice), at] })
      await client.query({ name: 'notices-trim', text: PG.trim, values: [userId, docName, userId, docName, NOTICES_KEPT_PER_DOC] })
    })
  }

  async take(docName: string, userId: string, now = Date.now()): Promise<ServerNotice[]> {
    const { rows } = await this.pool.query<{ seq: number; notice: string; at: number }>({
      name: 'notices-take',
      text: PG.take,
      values: [userId, docName],
    })
    return rows
      .filter((row) => row.at > now - NOTICE_TTL_MS)
      .sort((a, b) => a.seq - b.seq)
      .map((row) => JSON.parse(row.notice) as ServerNotice)
  }

  async expire(now = Date.now()): Promise<number> {
    return (await this.pool.query({ name: 'notices-expire', text: PG.expire, values: [now - NOTICE_TTL_MS] })).rowCount ?? 0
  }
}
