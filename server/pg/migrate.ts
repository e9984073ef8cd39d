/**
 * Brings a PostgreSQL database's schema up to date: every migration of `MIGRATIONS` not yet
 * in `schema_migrations`, in order, in ONE transaction that first takes a transaction-level
 * advisory lock. Two processes starting together therefore migrate once: the second waits
 * for the lock, then finds everything recorded and applies nothing. A failing migration
 * rolls back all of that run, the lock is released with the transaction, and the database
 * stays at its previous version.
 */
import { ADVISORY_LOCK } from './advisoryLocks.js'
import { inTransaction } from './inTransaction.js'
import { type Migration, MIGRATIONS } from './migrations.js'
import { type Pool, oneLine } from './openPool.js'

export interface MigrationResult {
  /** Versions this call applied, in order (empty when another process had applied them). */
  applied: number[]
  /** The schema version now. */
  version: number
}

/** A migration failed (its whole run is rolled back), or the database is newer than this code. */
export class MigrationError extends Error {}

export async function migrate(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, 0)', [ADVISORY_LOCK.migrate])
    // Created under the lock: two concurrent `CREATE TABLE IF NOT EXISTS` can still collide.
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version))
    const newest = Math.max(0, ...done)
    const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version
    if (newest > known)
      throw new MigrationError(`the database schema is at version ${newest}, newer than this Accord knows (${known}); upgrade Accord`)
    const applied: number[] = []
    for (const migration of migrations) {
      if (done.has(migration.version)) continue
      try {
        await client.query(migration.sql)
      } catch (error) {
        throw new MigrationError(`migration ${migration.version} (${migration.name}) failed: ${oneLine(error)}`)
      }
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      applied.push(migration.version)
    }
    return { applied, version: Math.max(newest, known) }
  })
}
