/**
 * Integration tests run once per backend: the same suite against a server on a SQLite file
 * and one on a fresh PostgreSQL database (skipped with one line when PostgreSQL is not
 * reachable, except on CI; see pg.ts).
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect } from 'vitest'
import type { AccordOptions, AccordServer } from '../../server/AccordServer.js'
import { freshDatabase, schemaVersionOf, skipPg, useFreshDatabase } from './pg.js'
import { statement } from './stored.js'
import { type Seeded, type SeededRole, type SeededUsers, type TestBackend, type TestServer, loginAs, startServer } from './server.js'

export interface BackendUnderTest {
  readonly name: 'SQLite' | 'PostgreSQL'
  /** For `startServer({ backend })`: a server on a fresh database of its own. */
  readonly kind: TestBackend
  /** The options of a server on the suite's database (read inside tests and hooks). */
  options(): AccordOptions
  /** Another, empty database of this kind for a scenario of its own, and how to remove it. */
  another(): Promise<{ options: AccordOptions; drop(): Promise<void> }>
}

const SQLITE: BackendUnderTest = {
  name: 'SQLite',
  kind: 'sqlite',
  options: () => ({}),
  another: async () => ({ options: {}, drop: async () => {} }),
}

/** `describe(title)` once per backend; `body` registers its tests and hooks, and may start servers with `backend.options()`. */
export function describeBackends(title: string, body: (backend: BackendUnderTest) => void): void {
  describe(`${title} (SQLite)`, () => body(SQLITE))
  describe.skipIf(skipPg)(`${title} (PostgreSQL)`, () => {
    const database = useFreshDatabase()
    let used = false
    // Before the database is dropped (after-hooks run in reverse): a suite that took its options
    // but started its servers elsewhere (on SQLite, say) would leave it unmigrated.
    afterAll(async () => {
      if (used) expect(await schemaVersionOf(database.url), `the servers of "${title}" ran on its PostgreSQL database`).toBeGreaterThan(0)
    })
    body({
      name: 'PostgreSQL',
      kind: 'postgres',
      options: () => {
        used = true
        return { databaseUrl: database.url }
      },
      async another() {
        const other = await freshDatabase()
        return { options: { databaseUrl: other.url }, drop: () => other.drop() }
      },
    })
  })
}

/** The options that start a server again on `t`'s database. */
export function sameDatabase(t: TestServer): AccordOptions {
  const { databaseUrl } = t.server.options
  return databaseUrl ? { databaseUrl } : { db: t.dbFile }
}

export interface RestartOptions {
  /** Runs while no server is open on the database. */
  whileStopped?: () => void | Promise<void>
  /** More options of the new server. */
  options?: AccordOptions
}

/** Closes `t`'s server and starts another on its database; closing that one removes `t`'s folder too. */
export async function restart(t: TestServer, { whileStopped, options }: RestartOptions = {}): Promise<TestServer> {
  await t.server.close()
  await whileStopped?.()
  const next = await startServer({ ...options, ...sameDatabase(t) })
  // The new server's own folder is unused: its database is `t`'s.
  rmSync(next.dir, { recursive: true, force: true })
  return {
    ...next,
    dir: t.dir,
    dbFile: t.dbFile,
    async close() {
      await next.server.close()
      rmSync(t.dir, { recursive: true, force: true })
    },
  }
}

/** Runs one statement (`?` parameters) on a server's database, SQLite or PostgreSQL, and returns its rows. */
export function query<R = Record<string, unknown>>(server: AccordServer, sql: string, params: unknown[] = []): Promise<R[]> {
  return statement<R>(server.backend.pool ?? server.db, sql, params)
}

/** As `restart`, then signs `roles` in again: accounts are stored, on either backend. */
export async function restartSeeded<R extends SeededRole>(
  t: TestServer,
  users: SeededUsers,
  roles: readonly R[],
  options: RestartOptions = {},
): Promise<Seeded<R>> {
  const next = await restart(t, options)
  return { t: next, users, api: await loginAs(next.url, users, roles) }
}
