/**
 * Where Accord keeps what it must not lose: SQLite, one file beside the server (the
 * default), or PostgreSQL (`ACCORD_DATABASE_URL`), which several processes can share. A
 * backend hands the server one implementation of each store interface; everything above
 * them is the same code on both.
 */
import type { AuthStore } from './auth/AuthStore.js'
import { SqliteAuthStore } from './auth/SqliteAuthStore.js'
import { type InvoiceNumbers, SqliteInvoiceNumbers } from './authority/InvoiceNumbers.js'
import type { ReservationLedger } from './authority/ReservationLedger.js'
import { SqliteReservationLedger } from './authority/SqliteReservationLedger.js'
import type { ExportFiles } from './jobs/ExportFiles.js'
import type { JobQueue } from './jobs/JobQueue.js'
import type { JobStateStore } from './jobs/JobStateStore.js'
import { SqliteJobQueue } from './jobs/SqliteJobQueue.js'
import { SqliteThrottleStore } from './limits/SqliteThrottleStore.js'
import type { ThrottleStore } from './limits/ThrottleStore.js'
import { SqliteJobStateStore } from './jobs/SqliteJobStateStore.js'
import type { Pool } from './pg/openPool.js'
import { type RecordReads, SqliteRecordReads } from './records/RecordReads.js'
import type { DocStore } from './store/DocStore.js'
import { InlineDocStore } from './store/InlineDocStore.js'
import { type NoticeOutbox, SqliteNoticeOutbox } from './store/NoticeOutbox.js'
import type { DocFence } from './store/PgDocStore.js'
import { ThreadedDocStore } from './store/ThreadedDocStore.js'
import { type ViewStore, sqliteViewStore } from './views/ViewStore.js'
import { type Db, openDatabase } from './store/openDatabase.js'
import { preallocateWal } from './store/walFile.js'

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
  /** Where finished export files are kept, when not on this machine's disk (PostgreSQL: in the database). */
  readonly exportFiles: ExportFiles | null
  /** Each person's saved list views. */
  readonly views: ViewStore
  /** The SQLite connection, on SQLite (tests and tools read it; the server goes through the stores). */
  readonly db: Db | null
  /** The PostgreSQL pool, on PostgreSQL. */
  readonly pool: Pool | null
  /** Resolves once the database answered a query; rejects when it does not, or not within `timeoutMs` (PostgreSQL). */
  ping(timeoutMs?: number): Promise<void>
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
  preallocateWal(db, file)
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
    exportFiles: null,
    views: sqliteViewStore(db),
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

/**
 * How long the stores wait for PostgreSQL. Without them, a server that accepts connections
 * but hangs (or a network that drops everything) would hold every request, append and
 * readiness probe forever. They nest: an append's retry waits at most 5 s for an earlier
 * try of itself (PgDocStore's `lockTimeoutMs`), within `statementMs`, within `queryMs`.
 */
export interface PgTimeouts {
  /** How long `ping` (readiness) waits for `SELECT 1`. @default 2000 */
  pingMs?: number
  /**
   * PostgreSQL cancels a statement of the stores running longer (`statement_timeout`): one
   * waiting for locks held by a process that hangs, a runaway read. It rolls back (SQLSTATE
   * 57014), the connection stays usable, and a request failing so answers 503. @default 30000
   */
  statementMs?: number
  /**
   * A statement PostgreSQL has not answered within this is given up by the client, and its
   * connection closed (a server that hangs cannot cancel anything itself). For an append it is
   * a lost connection: whether a COMMIT given up so landed is unknown, and the append is tried
   * again with its id, which finds it or writes it once (PgDocStore); a request answers 503.
   * Longer than `statementMs`, so that a server that answers cancels first. @default 35000
   */
  queryMs?: number
  /**
   * PostgreSQL ends a session of the stores idle inside a transaction this long, so that a
   * process that hangs mid-transaction (or whose network is cut) does not hold its locks
   * (documents' rows, the ledger's) from the other processes. Accord's transactions are never
   * idle for more than milliseconds. @default 15000
   */
  idleInTransactionMs?: number
}

export const PG_TIMEOUTS: Required<PgTimeouts> = { pingMs: 2000, statementMs: 30_000, queryMs: 35_000, idleInTransactionMs: 15_000 }

export interface PgBackendOptions {
  /** `postgres://user@host:5432/database` */
  url: string
  /** Connections open at most. @default 10 */
  poolSize?: number
  /** Errors of idle connections (the pool replaces them). */
  onError?: (error: Error) => void
  /** @default PG_TIMEOUTS */
  timeouts?: PgTimeouts
  /** The document store's fence, for a cluster member (PgDocStore's `fence`). */
  fence?: DocFence
}

/**
 * Connects (one clear error when PostgreSQL cannot be reached), brings the schema up to date
 * under the migration lock, and opens the stores on one pool (server/pgBackend.ts, loaded
 * here and only here).
 */
export async function openPgBackend(options: PgBackendOptions): Promise<Backend> {
  const { openPgBackend: open } = await import('./pgBackend.js')
  return open(options)
}
