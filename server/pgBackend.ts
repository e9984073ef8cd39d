/**
 * The PostgreSQL backend's construction, loaded only when `ACCORD_DATABASE_URL` asks for it
 * (server/backend.ts): node-postgres and the PostgreSQL stores stay out of a SQLite server's
 * memory (about 15 MB of RSS at start).
 */
import type { QueryConfig } from 'pg'
import { PgAuthStore } from './auth/PgAuthStore.js'
import { PgInvoiceNumbers } from './authority/InvoiceNumbers.js'
import { PgReservationLedger } from './authority/PgReservationLedger.js'
import type { Backend, PgBackendOptions } from './backend.js'
import { PG_TIMEOUTS } from './backend.js'
import { PgJobQueue } from './jobs/PgJobQueue.js'
import { PgExportFiles } from './jobs/PgExportFiles.js'
import { PgJobStateStore } from './jobs/PgJobStateStore.js'
import { PgThrottleStore } from './limits/PgThrottleStore.js'
import { migrate } from './pg/migrate.js'
import { displayUrl, openPool } from './pg/openPool.js'
import { PgRecordReads } from './records/RecordReads.js'
import { PgNoticeOutbox } from './store/NoticeOutbox.js'
import { PgDocStore } from './store/PgDocStore.js'
import { pgViewStore } from './views/ViewStore.js'

/**
 * Connects (one clear error when PostgreSQL cannot be reached), brings the schema up to date
 * under the migration lock, and opens the stores on one pool. Migrations run on a connection
 * of their own without the stores' timeouts: a migration, or waiting for another process's,
 * may take longer than any statement of the stores.
 */
export async function openPgBackend({ url, poolSize, onError, timeouts = {}, fence }: PgBackendOptions): Promise<Backend> {
  const { pingMs, statementMs, queryMs, idleInTransactionMs } = { ...PG_TIMEOUTS, ...timeouts }
  const migrating = await openPool(url, { max: 1 })
  try {
    await migrate(migrating)
  } finally {
    await migrating.end().catch(() => {})
  }
  const pool = await openPool(url, {
    max: poolSize,
    onError,
    statementTimeoutMs: statementMs,
    queryTimeoutMs: queryMs,
    idleInTransactionTimeoutMs: idleInTransactionMs,
  })
  return {
    kind: 'postgres',
    location: displayUrl(url),
    docStore: new PgDocStore(pool, { fence }),
    ledger: new PgReservationLedger(pool),
    jobQueue: new PgJobQueue(pool),
    authStore: new PgAuthStore(pool),
    throttleStore: new PgThrottleStore(pool),
    jobState: new PgJobStateStore(pool),
    recordReads: new PgRecordReads(pool),
    invoiceNumbers: new PgInvoiceNumbers(pool),
    outbox: new PgNoticeOutbox(pool),
    exportFiles: new PgExportFiles(pool),
    views: pgViewStore(pool),
    db: null,
    pool,
    async ping(timeoutMs = pingMs) {
      // The query's own timeout closes its connection if it hangs; the race also bounds the
      // wait for a free connection, which the pool may not have when PostgreSQL hangs.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        const probe: QueryConfig & { query_timeout: number } = { text: 'SELECT 1', query_timeout: timeoutMs }
        await Promise.race([pool.query(probe), late])
      } finally {
        clearTimeout(timer)
      }
    },
    async close() {
      await pool.end()
    },
  }
}
