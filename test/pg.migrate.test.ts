/**
 * PostgreSQL schema migrations (server/pg/migrate.ts) and `accord migrate`, on fresh
 * databases (test/helpers/pg.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { migrate } from '../server/pg/migrate.js'
import { MIGRATIONS } from '../server/pg/migrations.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { runCli } from './helpers/child.js'
import { adminQuery, freshDatabase, skipPg } from './helpers/pg.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function database() {
  const db = await freshDatabase()
  cleanups.push(db.drop)
  return db
}

async function pool(url: string, max = 2): Promise<Pool> {
  const p = await openPool(url, { max })
  cleanups.push(() => p.end())
  return p
}

const recorded = async (p: Pool) =>
  (await p.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows

/** The schema version once every migration ran (numbers may skip one: a version reserved for other work). */
const LATEST = MIGRATIONS[MIGRATIONS.length - 1]!.version

describe.skipIf(skipPg)('PostgreSQL migrations', () => {
  it('[PGM1] two migrators started together on a fresh database: one applies, both end with the same schema_migrations', async () => {
    const { url } = await database()
    const [a, b] = [await pool(url), await pool(url)]
    const results = await Promise.all([migrate(a), migrate(b)])
    const all = MIGRATIONS.map((m) => m.version)
    expect(results.map((r) => r.applied).sort((x, y) => y.length - x.length)).toEqual([all, []])
    expect(results.map((r) => r.version)).toEqual([LATEST, LATEST])
    expect(await recorded(a)).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })))
    expect(await recorded(b)).toEqual(await recorded(a))
  })

  it('[PGM2] a failing migration rolls back its whole run; a database newer than the code is refused', async () => {
    const { url } = await database()
    const p = await pool(url)
    const broken = [...MIGRATIONS, { version: LATEST + 1, name: 'broken', sql: 'CREATE TABLE t (x nosuchtype)' }]
    await expect(migrate(p, broken)).rejects.toThrow(/migration \d+ \(broken\) failed: type "nosuchtype" does not exist/)
    const { rows } = await p.query("SELECT to_regclass('schema_migrations') AS t, to_regclass('reservations') AS r")
    expect(rows[0]).toEqual({ t: null, r: null })
    await migrate(p, broken.slice(0, -1))
    await p.query("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
    await expect(migrate(p)).rejects.toThrow(/schema is at version 99, newer than this Accord knows/)
  })

  it('[PGM3] every connection runs with synchronous_commit on, whatever the database default', async () => {
    const { name, url } = await database()
    await adminQuery(`ALTER DATABASE ${name} SET synchronous_commit = off`)
    const p = await pool(url)
    expect((await p.query('SHOW synchronous_commit')).rows[0]).toEqual({ synchronous_commit: 'on' })
  })
})

describe.skipIf(skipPg)('accord migrate', () => {
  it('[PGM4] migrates a fresh database with --database-url or ACCORD_DATABASE_URL, one line each, and is idempotent', async () => {
    const { url } = await database()
    const first = runCli(['migrate', '--database-url', url])
    expect(first.stderr).toBe('')
    expect(first.status).toBe(0)
    const n = LATEST
    const all = MIGRATIONS.map((m) => m.version).join(', ')
    expect(first.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`migrated to schema version ${n} \\(applied ${all}\\)$`)),
    ])
    const again = runCli(['migrate'], { ACCORD_DATABASE_URL: url })
    expect(again.status).toBe(0)
    expect(again.stdout.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`is up to date \\(schema version ${n}\\)$`))])
    expect(await recorded(await pool(url))).toHaveLength(MIGRATIONS.length)
  })
})

describe('accord migrate errors', () => {
  const expectOneLine = (result: ReturnType<typeof runCli>, pattern: RegExp) => {
    expect(result.status).not.toBe(0)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(pattern)
  }

  it('[PGM5] an unreachable server is one line naming it (without its password) and a non-zero exit', () => {
    const result = runCli(['migrate', '--database-url', 'postgres://accord:secret@127.0.0.1:1/accord'])
    expectOneLine(result, /^accord: cannot connect to PostgreSQL at postgres:\/\/accord@127\.0\.0\.1:1\/accord \(.*ECONNREFUSED/)
    expect(result.stderr).not.toContain('secret')
  })

  it('[PGM6] no URL, or not a PostgreSQL URL, is one line and a non-zero exit', () => {
    expectOneLine(runCli(['migrate'], { ACCORD_DATABASE_URL: '' }), /migrate needs --database-url or ACCORD_DATABASE_URL/)
    expectOneLine(runCli(['migrate', '--database-url', 'mysql://db/x']), /not a PostgreSQL URL/)
  })
})
