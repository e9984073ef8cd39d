/**
 * PostgreSQL for tests: a fresh database per test file, dropped afterwards.
 *
 * The server is found at `ACCORD_TEST_DATABASE_URL` (default: the local one,
 * `postgres://postgres@127.0.0.1:5432/postgres`), a URL whose user may create databases.
 * When it cannot be reached, PostgreSQL tests are skipped with one line saying why, except
 * under `CI=true`, where they run and fail: CI must never pass by skipping them.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { migrate } from '../../server/pg/migrate.js'
import { type Pool, openPool } from '../../server/pg/openPool.js'

export const PG_ADMIN_URL = process.env.ACCORD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

async function reachability(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (error) {
    return (error as Error).message || String((error as { code?: string }).code ?? error)
  } finally {
    await client.end().catch(() => {})
  }
}

const unreachable = await reachability()

/** True when PostgreSQL tests are to be skipped: unreachable, and not on CI. */
export const skipPg = unreachable !== null && process.env.CI !== 'true'
if (skipPg) console.warn(`PostgreSQL tests skipped: ${PG_ADMIN_URL} unreachable (${unreachable}); set ACCORD_TEST_DATABASE_URL`)

/** `admin` with its database replaced by `name`. */
export function urlOf(name: string, admin = PG_ADMIN_URL): string {
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
}

/** Runs `sql` on the admin database. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** The newest migration applied to the database at `url`; 0 when none is (nothing opened it). */
export async function schemaVersionOf(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const exists = await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS yes")
    if (!exists.rows[0].yes) return 0
    return Number((await client.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v ?? 0)
  } finally {
    await client.end()
  }
}

/**
 * One test process at a time uses PostgreSQL: the test files run in parallel processes, and two
 * of them opening 50 connections each would pass the server's `max_connections` (100 by
 * default). The first database a process makes takes a session-level advisory lock on a
 * connection of its own, the last one it drops lets it go (nested suites share it).
 */
const TESTS_LOCK = 'accord_tests'
let lockHolder: pg.Client | null = null
let lockUsers = 0

async function takeTestsLock(): Promise<void> {
  lockUsers++
  if (lockUsers > 1) return
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  await client.connect()
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [TESTS_LOCK])
  lockHolder = client
}

async function releaseTestsLock(): Promise<void> {
  lockUsers--
  if (lockUsers > 0 || !lockHolder) return
  const client = lockHolder
  lockHolder = null
  await client.end().catch(() => {})
}

export interface DatabaseOptions {
  /**
   * An ICU locale for the database's text order and case rules (`en-US`): where the server's
   * default locale (often `C.UTF-8`) would hide code that depends on one.
   */
  icuLocale?: string
}

/** A new, empty database: its URL and a `drop()` that removes it even while connections remain. */
export async function freshDatabase(options: DatabaseOptions = {}): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  if (unreachable !== null) throw new Error(`PostgreSQL is required here (CI=true) but ${PG_ADMIN_URL} is unreachable: ${unreachable}`)
  await takeTestsLock()
  const name = `accord_test_${randomBytes(6).toString('hex')}`
  try {
    const locale = options.icuLocale ? ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}'` : ''
    await adminQuery(`CREATE DATABASE ${name}${locale}`)
  } catch (error) {
    await releaseTestsLock()
    throw error
  }
  let dropped = false
  return {
    name,
    url: urlOf(name),
    async drop() {
      if (dropped) return
      dropped = true
      try {
        await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await releaseTestsLock()
      }
    },
  }
}

/**
 * A fresh database for the enclosing `describe` (created in `beforeAll`, dropped in
 * `afterAll`); read `.url` inside tests and hooks.
 */
export function useFreshDatabase(options: DatabaseOptions = {}): { readonly url: string; readonly name: string } {
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined
  beforeAll(async () => {
    database = await freshDatabase(options)
  })
  afterAll(async () => {
    await database?.drop()
  })
  return {
    get url() {
      if (!database) throw new Error('the fresh database exists only inside tests and hooks')
      return database.url
    },
    get name() {
      if (!database) throw new Error('the fresh database exists only inside tests and hooks')
      return database.name
    },
  }
}

/** A fresh database for the enclosing `describe`, migrated, with a pool of four connections on it. */
export function useMigratedDatabase(options: DatabaseOptions = {}): { readonly url: string; readonly pool: Pool } {
  const database = useFreshDatabase(options)
  let pool: Pool | undefined
  beforeAll(async () => {
    pool = await openPool(database.url, { max: 4 })
    await migrate(pool)
  })
  afterAll(() => pool?.end())
  return {
    get url() {
      return database.url
    },
    get pool() {
      if (!pool) throw new Error('the pool exists only inside tests and hooks')
      return pool
    },
  }
}
