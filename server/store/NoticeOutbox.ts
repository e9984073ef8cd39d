/**
 * Notices for people who were not connected when they were made (no socket open to the
 * document with notices on), kept until they next connect to that document. Bounded: the
 * newest `NOTICES_KEPT_PER_DOC` per user and document, none older than `NOTICE_TTL_MS`.
 */
import type { Transaction } from 'better-sqlite3'
import type { ServerNotice } from '../../shared/protocol.js'
import { type Db, statementCache } from './openDatabase.js'

/** Notices kept per user and document; older ones are dropped as new ones come. */
export const NOTICES_KEPT_PER_DOC = 50
/** How long a kept notice waits for its user. @default 30 days */
export const NOTICE_TTL_MS = 30 * 24 * 60 * 60 * 1000

export interface NoticeOutbox {
  /** Keeps a notice for `userId` on `docName`. */
  keep(docName: string, userId: string, notice: ServerNotice, at?: number): void
  /** The notices kept for `userId` on `docName`, oldest first, removed from the outbox. */
  take(docName: string, userId: string, now?: number): ServerNotice[]
}

export class SqliteNoticeOutbox implements NoticeOutbox {
  private readonly sql: ReturnType<typeof statementCache>
  private readonly keepOne: Transaction<(docName: string, userId: string, notice: string, at: number) => void>
  private readonly takeAll: Transaction<(docName: string, userId: string, now: number) => ServerNotice[]>

  constructor(db: Db) {
    this.sql = statementCache(db)
    this.keepOne = db.transaction((docName: string, userId: string, notice: string, at: number) => {
      this.sql('INSERT INTO pending_notices (doc, user_id, notice, at) VALUES (?, ?, ?, ?)').run(docName, userId, notice, at)
      this.sql(
        'DELETE FROM pending_notices WHERE user_id = ? AND doc = ? AND seq <= (SELECT seq FROM pending_notices WHERE user_id = ? AND doc = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)',
      ).run(userId, docName, userId, docName, NOTICES_KEPT_PER_DOC)
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
  keep(docName: string, userId: string, notice: ServerNotice, at = Date.now()): void {
    this.keepOne.immediate(docName, userId, JSON.stringify(notice), at)
  }

  take(docName: string, userId: string, now = Date.now()): ServerNotice[] {
    return this.takeAll.immediate(docName, userId, now)
  }

  /** Deletes the notices nobody came back for within `NOTICE_TTL_MS` (at start). */
  expire(now = Date.now()): number {
    return this.sql('DELETE FROM pending_notices WHERE at <= ?').run(now - NOTICE_TTL_MS).changes
  }
}
