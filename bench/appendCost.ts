/**
 * What one commit costs on each backend: the median time of one `append` of one small
 * update (a record edit: the update, its history entry and its projection row), on SQLite
 * committed on the event loop (`synchronous=FULL`, as `accord serve` runs it) and on
 * PostgreSQL (`synchronous_commit = on`). Not a test: a measurement, printed as one line
 * per backend.
 *
 *   npx tsx bench/appendCost.ts [appends] [postgres://…]
 *
 * The PostgreSQL URL (default `ACCORD_TEST_DATABASE_URL`, else the local server) must allow
 * creating a database: the script makes a fresh one and drops it afterwards.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { migrate } from '../server/pg/migrate.js'
import { openPool } from '../server/pg/openPool.js'
import type { DocStore, PersistEntry } from '../server/store/DocStore.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { PgDocStore } from '../server/store/PgDocStore.js'

const appends = Number(process.argv[2] ?? 500)
const adminUrl = process.argv[3] ?? process.env.ACCORD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** The i-th edit of one record: a 40-byte update, its history entry, the record's row. */
function edit(i: number): PersistEntry[] {
  return [
    {
      docName: 'acme/deals/d1',
      updates: [{ update: randomBytes(40), author: 'u1', changed: ['title'], at: Date.now() }],
      projection: {
        table: 'records',
        key: ['workspace', 'collection', 'id'],
        values: {
          workspace: 'acme',
          collection: 'deals',
          id: 'd1',
          fields: JSON.stringify({ title: `Deal ${i}` }),
          notes: '',
          items: '[]',
          authority: '{}',
          deleted: 0,
          complete: 1,
          etag: `e${i}`,
          created_at: i,
          updated_at: i,
          updated_by: 'u1',
          version: 1,
        },
        insertOnly: ['created_at'],
        keepIfNull: ['updated_by'],
        increment: ['version'],
      },
    },
  ]
}

/** Median and 90th percentile of `appends` appends one after the other, after a warm-up. */
async function measure(store: DocStore): Promise<string> {
  for (let i = 0; i < 20; i++) await store.append(edit(i))
  const times: number[] = []
  for (let i = 0; i < appends; i++) {
    const started = performance.now()
    await store.append(edit(i))
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2)
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms (${appends} appends)`
}

async function sqlite(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-append-'))
  const db = openDatabase(join(dir, 'accord.db'))
  try {
    return await measure(new InlineDocStore(db))
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function postgres(): Promise<string> {
  const name = `accord_bench_${randomBytes(6).toString('hex')}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    await client.query(sql).finally(() => client.end())
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const pool = await openPool(url.toString(), { max: 2 })
  try {
    await migrate(pool)
    return await measure(new PgDocStore(pool))
  } finally {
    await pool.end()
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}

console.log(`SQLite, inline (synchronous=FULL): ${await sqlite()}`)
console.log(`PostgreSQL (synchronous_commit=on, ${new URL(adminUrl).host}): ${await postgres()}`)
