/**
 * `accord backup` and `accord restore`, through the real CLI: SQLite files, and PostgreSQL
 * databases through pg_dump and pg_restore (test/helpers/pg.ts).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PgReservationLedger } from '../server/authority/PgReservationLedger.js'
import { slotRequestOf } from '../server/authority/slotRequest.js'
import { PgJobQueue } from '../server/jobs/PgJobQueue.js'
import { migrate } from '../server/pg/migrate.js'
import { openPool } from '../server/pg/openPool.js'
import { projectRecord } from '../server/records/recordProjection.js'
import { DEMO_PASSWORD } from '../server/seed/demo.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { fieldsOf } from '../shared/docLayout.js'
import { recordDocName } from '../shared/docNames.js'
import { type CliResult, expectOneLineError, killHard, runCli, spawnServer } from './helpers/child.js'
import { freshDatabase, skipPg } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

const dir = tempDir('accord-backup-')
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  rmSync(dir, { recursive: true, force: true })
})

function ok(result: CliResult): string {
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  return result.stdout
}

const rowsOf = (file: string, sql: string) => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db.prepare(sql).all()
  } finally {
    db.close()
  }
}

const DEMO_LOGIN = { email: 'alice@demo.test', password: DEMO_PASSWORD }

/** A PATH without PostgreSQL's tools: the CLI runs on node's absolute path, nothing else is looked up. */
const NO_TOOLS = { PATH: join(dir, 'empty-bin') }
mkdirSync(NO_TOOLS.PATH)

describe('restore on SQLite', () => {
  it('[BK1] refuses a database without --force and one a server has open; with --force puts the backup in place and keeps the old database, its log folded in', async () => {
    const db = join(dir, 'live.db')
    ok(runCli(['demo', '--db', db]))
    const backup = join(dir, 'live-backup.db')
    expect(ok(runCli(['backup', backup, '--db', db]))).toMatch(/backup written/)
    expect(existsSync(`${backup}-wal`)).toBe(false)
    ok(runCli(['workspace', 'add', 'later', '--db', db]))

    expectOneLineError(runCli(['restore', backup, '--db', db]), /live\.db exists; stop the server, then pass --force/)
    const server = await spawnServer(db)
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(DEMO_LOGIN),
    })
    expect(login.status).toBe(200)
    expectOneLineError(runCli(['restore', backup, '--db', db, '--force']), /live\.db is open in another process .*stop it first/)
    // Killed: its session is in the write-ahead log only, which the kept database must carry.
    await killHard(server)
    expect(existsSync(`${db}-wal`)).toBe(true)

    const restored = ok(runCli(['restore', backup, '--db', db, '--force']))
    const kept = /kept as (\S+)$/m.exec(restored)?.[1]
    expect(kept).toMatch(/live\.db\.replaced-/)
    expect(rowsOf(db, 'SELECT id FROM workspaces ORDER BY id')).toEqual([{ id: 'demo' }])
    for (const suffix of ['-wal', '-shm']) {
      expect(existsSync(`${db}${suffix}`)).toBe(false)
      expect(existsSync(`${kept}${suffix}`)).toBe(false)
    }
    expect(rowsOf(kept!, 'SELECT id FROM workspaces ORDER BY id')).toEqual([{ id: 'demo' }, { id: 'later' }])
    expect(rowsOf(kept!, 'SELECT count(*) AS n FROM sessions')).toEqual([{ n: 1 }])

    const again = await spawnServer(db)
    try {
      const res = await fetch(`${again.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(DEMO_LOGIN),
      })
      expect(res.status).toBe(200)
    } finally {
      await killHard(again)
    }
  })

  it('[BK2] a restore into a new path needs no --force; what cannot be restored is one line', () => {
    const source = join(dir, 'source.db')
    ok(runCli(['workspace', 'add', 'ops', '--db', source]))
    const backup = join(dir, 'source-backup.db')
    ok(runCli(['backup', backup, '--db', source]))
    const fresh = join(dir, 'fresh', 'accord.db')
    mkdirSync(join(dir, 'fresh'))
    expect(ok(runCli(['restore', backup, '--db', fresh]))).toBe(`restored ${backup} to ${fresh}\n`)
    expect(rowsOf(fresh, 'SELECT id FROM workspaces')).toEqual([{ id: 'ops' }])

    const archive = join(dir, 'fake.dump')
    writeFileSync(archive, 'PGDMP\u0001\u000e\u0000 not really')
    const garbage = join(dir, 'garbage.db')
    writeFileSync(garbage, 'this is not a database')
    expectOneLineError(
      runCli(['restore', archive, '--db', join(dir, 'x.db')]),
      /fake\.dump is a pg_dump archive: restore it with --database-url/,
    )
    expectOneLineError(runCli(['restore', garbage, '--db', join(dir, 'x.db')]), /garbage\.db is not a SQLite database/)
    expectOneLineError(runCli(['restore', join(dir, 'missing.db'), '--db', join(dir, 'x.db')]), /no backup at .*missing\.db/)
    expectOneLineError(runCli(['restore', source, '--db', source, '--force']), /is the database itself/)
    expectOneLineError(
      runCli(['restore', backup, '--database-url', 'postgres://nobody@127.0.0.1:1/none']),
      /source-backup\.db is a SQLite database: restore it with --db FILE, or copy it into PostgreSQL with accord migrate-from-sqlite/,
    )
    expect(existsSync(join(dir, 'x.db'))).toBe(false)
  })
})

/** Every table of the public schema (rows, and a digest of them in a fixed order) and every sequence's position. */
async function contents(url: string): Promise<Record<string, unknown>> {
  const pool = await openPool(url, { max: 1 })
  try {
    const out: Record<string, unknown> = {}
    const tables = await pool.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    for (const { name } of tables.rows) {
      const { rows } = await pool.query(
        `SELECT count(*)::integer AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM "${name}" t`,
      )
      out[name] = rows[0]
    }
    const sequences = await pool.query('SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = $1 ORDER BY 1', ['public'])
    out['(sequences)'] = sequences.rows
    return out
  } finally {
    await pool.end()
  }
}

/**
 * Fills a PostgreSQL database through its stores: record documents with history and
 * projection rows (one compacted), ledger decisions (confirmed, conflict, released) and
 * jobs (one finished), so every identity sequence has moved.
 */
async function fillThroughStores(url: string): Promise<void> {
  const pool = await openPool(url, { max: 2 })
  try {
    await migrate(pool)
    const store = new PgDocStore(pool)
    for (let i = 0; i < 12; i++) {
      const id = `c${i}`
      const doc = new Y.Doc()
      const name = { workspace: 'acme', collection: 'customers' as const, id }
      for (const [n, value] of [`Customer ${i}`, `Customer ${i} Ltd`].entries()) {
        const sv = Y.encodeStateVector(doc)
        fieldsOf(doc).set('name', value)
        const at = 1_700_000_000_000 + i * 1000 + n
        await store.append([
          {
            docName: recordDocName('acme', 'customers', id),
            updates: [{ update: Y.encodeStateAsUpdate(doc, sv), author: `u${n}`, changed: ['name'], at, clients: [doc.clientID] }],
            projection: projectRecord(name, doc, [{ author: `u${n}`, at }])?.row,
            snapshot: i === 0 && n === 1 ? Y.encodeStateAsUpdate(doc) : undefined,
          },
        ])
      }
    }
    await store.close()
    const ledger = new PgReservationLedger(pool)
    const slot = (id: string, status = 'scheduled') =>
      slotRequestOf(
        'acme',
        id,
        { title: id, start: '2030-01-07T09:00:00Z', end: '2030-01-07T10:00:00Z', attendees: ['u1'], room: 'Atlas', status },
        {},
      )
    await ledger.decide(slot('e1'))
    await ledger.decide(slot('e2'))
    await ledger.decide(slot('e3'))
    await ledger.decide(slot('e3', 'cancelled'))
    const queue = new PgJobQueue(pool)
    for (const target of ['csv', 'xlsx'])
      await queue.enqueue({
        workspace: 'acme',
        userId: 'u1',
        kind: 'export',
        target,
        params: { collections: ['customers'] },
        counts: { exported: 0 },
        coalesceKey: null,
      })
    const [job] = await queue.claim('worker', 1, 60_000)
    await queue.finish(job!.id, 'worker', { status: 'succeeded', counts: { exported: 12 }, result: { file: 'x.csv' } })
  } finally {
    await pool.end()
  }
}

async function database() {
  const db = await freshDatabase()
  cleanups.push(db.drop)
  return db
}

describe.skipIf(skipPg)('backup and restore on PostgreSQL', () => {
  it('[BK3] accord backup (pg_dump) then accord restore (pg_restore) into a fresh database: every table, row and sequence identical', async () => {
    const source = await database()
    await fillThroughStores(source.url)
    const file = join(dir, 'accord.dump')
    expect(ok(runCli(['backup', file, '--database-url', source.url]))).toBe(`backup written to ${file}\n`)
    expectOneLineError(runCli(['backup', file, '--database-url', source.url]), /exists already/)

    const target = await database()
    expect(ok(runCli(['restore', file, '--database-url', target.url]))).toMatch(
      /^restored .*accord\.dump into postgres:\/\/.* \(schema version \d+\)\n$/,
    )
    const before = await contents(source.url)
    expect(before).toMatchObject({ records: { rows: 12 }, history: { rows: 24 }, reservations: { rows: 3 }, jobs: { rows: 2 } })
    expect(await contents(target.url)).toEqual(before)
    expect(ok(runCli(['migrate', '--database-url', target.url]))).toMatch(/is up to date/)

    expectOneLineError(
      runCli(['restore', file, '--database-url', target.url]),
      /is not empty \(\d+ tables\); restore into a new database \(createdb NAME\)/,
    )
    const sqlite = join(dir, 'pg-test.db')
    ok(runCli(['workspace', 'add', 'x', '--db', sqlite]))
    expectOneLineError(runCli(['restore', sqlite, '--database-url', target.url]), /pg-test\.db is a SQLite database/)
  })

  it('[BK4] without pg_dump or pg_restore: one line saying how to install them, a non-zero exit, no file written', async () => {
    const source = await database()
    const file = join(dir, 'never.dump')
    expectOneLineError(
      runCli(['backup', file, '--database-url', source.url], NO_TOOLS),
      /pg_dump is not installed: install the PostgreSQL client tools .*apt-get install postgresql-client/,
    )
    expect(existsSync(file)).toBe(false)
    expect(existsSync(`${file}.partial`)).toBe(false)
    const target = await database()
    const archive = join(dir, 'tools.dump')
    writeFileSync(archive, 'PGDMP\u0001\u000e\u0000')
    expectOneLineError(
      runCli(['restore', archive, '--database-url', target.url], NO_TOOLS),
      /pg_restore is not installed: .*postgresql-client/,
    )
    expectOneLineError(
      runCli(['backup', join(dir, 'x.dump'), '--database-url', `${source.url}_missing`]),
      /pg_dump failed: .*does not exist/,
    )
  })
})
