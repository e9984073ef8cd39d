/**
 * What one commit costs on each backend: the median time of one `append` of one small
 * update (a record edit: the update, its history entry and its projection row), on SQLite
 * committed on the event loop (`synchronous=FULL`, as `accord serve` runs it) and on
 * PostgreSQL (`synchronous_commit = on`); then of one group commit that carries one such
 * edit of each of GROUP documents, as when many documents are edited at once. Not a test: a
 * measurement, printed as two lines per backend.
 *
 *   npx tsx bench/appendCost.ts [appends] [postgres://…]
 *
 * The PostgreSQL URL (default `ACCORD_BENCH_DATABASE_URL`, else the local server) must allow
 * creating a database: the script makes a fresh one and drops it afterwards.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '../server/pg/migrate.js'
import { openPool } from '../server/pg/openPool.js'
import type { DocStore, PersistEntry } from '../server/store/DocStore.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { BENCH_PG_ADMIN_URL, freshDatabase } from './postgres.js'

const appends = Number(process.argv[2] ?? 500)
const adminUrl = process.argv[3] ?? BENCH_PG_ADMIN_URL

/** Documents in one group commit. */
const GROUP = 50

/** The i-th edit of record `d<doc>`: a 40-byte update, its history entry, the record's row. */
function edit(i: number, doc = 1): PersistEntry {
  return {
    docName: `acme/deals/d${doc}`,
    updates: [{ update: randomBytes(40), author: 'u1', changed: ['title'], at: Date.now() }],
    projection: {
      table: 'records',
      key: ['workspace', 'collection', 'id'],
      values: {
        workspace: 'acme',
        collection: 'deals',
        id: `d${doc}`,
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
  }
}

/** The i-th edit of each of `docs` records, in one append. */
const group = (i: number, docs: number) => Array.from({ length: docs }, (_, d) => edit(i, d + 1))

/** Median and 90th percentile of appends of `docs` documents each, one after the other, after a warm-up. */
async function measure(store: DocStore, docs: number, count: number): Promise<string> {
  for (let i = 0; i < 20; i++) await store.append(group(i, docs))
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    await store.append(group(i, docs))
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2)
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms (${count} appends of ${docs === 1 ? 'one document' : `${docs} documents`})`
}

/** One document per append, then GROUP documents per append. */
async function measureBoth(store: DocStore): Promise<string> {
  const one = await measure(store, 1, appends)
  return `${one}\n  ${await measure(store, GROUP, Math.max(10, Math.round(appends / 10)))}`
}

async function sqlite(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-append-'))
  const db = openDatabase(join(dir, 'accord.db'))
  try {
    return await measureBoth(new InlineDocStore(db))
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function postgres(): Promise<string> {
  const database = await freshDatabase(adminUrl)
  const pool = await openPool(database.url, { max: 2 })
  try {
    await migrate(pool)
    return await measureBoth(new PgDocStore(pool))
  } finally {
    await pool.end()
    await database.drop()
  }
}

console.log(`SQLite, inline (synchronous=FULL):\n  ${await sqlite()}`)
console.log(`PostgreSQL (synchronous_commit=on, ${new URL(adminUrl).host}):\n  ${await postgres()}`)
