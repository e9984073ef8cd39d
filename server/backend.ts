/**
 * Where Accord keeps what it must not lose: SQLite, one file beside the server (the
 * default), or PostgreSQL (`ACCORD_DATABASE_URL`), which several processes can share. A
 * backend hands the server one implementation of each store interface; everything above
 * them is the same code on both.
 */
import type { AuthStore } from './auth/AuthStore.js'
import { PgAuthStore } from './auth/PgAuthStore.js'
import { SqliteAuthStore } from './auth/SqliteAuthStore.js'
import { type InvoiceNumbers, PgInvoiceNumbers, SqliteInvoiceNumbers } from './authority/InvoiceNumbers.js'
import type { ReservationLedger } from './authority/ReservationLedger.js'
import { PgReservationLedger } from './authority/PgReservationLedger.js'
import { SqliteReservationLedger } from './authority/SqliteReservationLedger.js'
import type { JobQueue } from './jobs/JobQueue.js'
import type { JobStateStore } from './jobs/JobStateStore.js'
import { PgJobQueue } from './jobs/PgJobQueue.js'
import { PgJobStateStore } from './jobs/PgJobStateStore.js'
import { SqliteJobQueue } from './jobs/SqliteJobQueue.js'
import { PgThrottleStore } from './limits/PgThrottleStore.js'
import { SqliteThrottleStore } from './limits/SqliteThrottleStore.js'
import type { ThrottleStore } from './limits/ThrottleStore.js'
import { SqliteJobStateStore } from './jobs/SqliteJobStateStore.js'
import { migrate } from './pg/migrate.js'
import { type Pool, displayUrl, openPool } from './pg/openPool.js'
import { PgRecordReads, type RecordReads, SqliteRecordReads } from './records/RecordReads.js'
import type { DocStore } from './store/DocStore.js'
import { InlineDocStore } from './store/InlineDocStore.js'
import { type NoticeOutbox, PgNoticeOutbox, SqliteNoticeOutbox } from './store/NoticeOutbox.js'
import { PgDocStore } from './store/PgDocStore.js'
import { ThreadedDocStore } from './store/ThreadedDocStore.js'
import { type Db, openDatabase } from './store/openDatabase.js'

export interface Backend {
  readonly kind: 'sqlite' | 'postgres'
  /** For logs and messages: the SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string
  readonly docStore: DocStore
  readonly ledger: ReservationLedger
  readonly jobQueue: JobQueue
  /** Workspaces, users and sessions. */
  readonly authStore: AuthStore
  /** The sign-in throttle's counts. */
  readonly throttleStore: ThrottleStore
  /** What export and import jobs remember between runs: import keys, Sheets sync state. */
  readonly jobState: JobStateStore
  /** Records and their history, as the document store projected them. */
  readonly recordReads: RecordReads
  readonly invoiceNumbers: InvoiceNumbers
  /** Notices waiting for people who were not connected. */
  readonly outbox: NoticeOutbox
  /** The SQLite connection, on SQLite (tests and tools read it; the server goes through the stores). */
  readonly db: Db | null
  /** The PostgreSQL pool, on PostgreSQL. */
  readonly pool: Pool | null
  /** Resolves once the database answered a query; rejects when it does not. */
  ping(): Promise<void>
  /** Lets go of the database; call it after every user of the stores has stopped. */
  close(): Promise<void>
}

export interface SqliteBackendOptions {
  /** The database file, or `:memory:`. */
  file: string
  synchronous?: 'full' | 'normal'
  writer?: 'auto' | 'thread' | 'inline'
}

export function openSqliteBackend({ file, synchronous, writer }: SqliteBackendOptions): Backend {
  const db = openDatabase(file, { synchronous })
  const inline = writer === 'inline' || file === ':memory:'
  const docStore = inline
    ? new InlineDocStore(db)
    : new ThreadedDocStore(db, file, { synchronous, mode: writer === 'thread' ? 'thread' : 'auto' })
  return {
    kind: 'sqlite',
    location: file,
    docStore,
    ledger: new SqliteReservationLedger(db),
    jobQueue: new SqliteJobQueue(db),
    authStore: new SqliteAuthStore(db),
    throttleStore: new SqliteThrottleStore(db),
    jobState: new SqliteJobStateStore(db),
    recordReads: new SqliteRecordReads(db),
    invoiceNumbers: new SqliteInvoiceNumbers(db),
    outbox: new SqliteNoticeOutbox(db),
    db,
    pool: null,
    async ping() {
      db.prepare('SELECT 1').get()
    },
    async close() {
      db.close()
    },
  }
}

export interface PgBackendOptions {
  /** `postgres://user@host:5432/database` */
  url: string
  /** Connections open at most. @default 10 */
  poolSize?: number
  /** Errors of idle connections (the pool replaces them). */
  onError?: (error: Error) => void
}

/**
 * Connects (one clear error when PostgreSQL cannot be reached), brings the schema up to date
 * under the migration lock, and opens the stores on one pool.
 */
export async function openPgBackend({ url, poolSize, onError }: PgBackendOptions): Promise<Backend> {
  const pool = await openPool(url, { max: poolSize, onError })
  try {
    await migrate(pool)
  } catch (error) {
    await pool.end().catch(() => {})
    throw error
  }
  return {
    kind: 'postgres',
    location: displayUrl(url),
    docStore: new PgDocStore(pool),
    ledger: new PgReservationLedger(pool),
    jobQueue: new PgJobQueue(pool),
    authStore: new PgAuthStore(pool),
    throttleStore: new PgThrottleStore(pool),
    jobState: new PgJobStateStore(pool),
    recordReads: new PgRecordReads(pool),
    invoiceNumbers: new PgInvoiceNumbers(pool),
    outbox: new PgNoticeOutbox(pool),
    db: null,
    pool,
    async ping() {
      await pool.query('SELECT 1')
    },
    async close() {
      await pool.end()
    },
  }
}
