/**
 * PgDocStore writes an append in a fixed number of statements, every document at once, and
 * works the history rules out itself from what it read (or knew from its own last append of
 * a document). What that leaves must be exactly what SqliteDocStore's entry-by-entry writes
 * leave: the same random appends are made on both and compared, table by table, and the
 * statements an append takes are counted through a proxy. PostgreSQL on a fresh database
 * (test/helpers/pg.ts; skipped with one line when none is reachable, except on CI).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Pool, openPool } from '../server/pg/openPool.js'
import type { DocStore, OverwrittenPart, PersistEntry, ProjectionRow, StoredUpdate } from '../server/store/DocStore.js'
import { HISTORY_RUN_MS } from '../server/store/historyRuns.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { withPgProxy } from './helpers/pgProxy.js'
import { recordRow } from './helpers/recordRows.js'
import { tempDir } from './helpers/server.js'

const TABLES = 'docs, doc_updates, doc_snapshots, doc_clients, history, records, doc_appends'
const DOCS = ['acme/deals/a', 'acme/deals/b', 'acme/deals/c']
const USERS = ['u1', 'u2', 'u3', null]
const PARTS = ['title', 'notes', 'stage']

/** A small seeded generator (mulberry32): the same appends on both stores, and again on a failure. */
function random(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return { chance: (p: number) => next() < p, int, pick: <T>(items: readonly T[]): T => items[int(items.length)]! }
}

/**
 * `count` random appends: one to four entries each, a document sometimes twice in one;
 * updates by people or the server, touching parts or not, close together or far apart (or
 * earlier than the last), some
 * carrying lost values (kept by their author, by someone else, by the server), client ids;
 * snapshots; projection rows of two shapes (the second without `updated_by`), counting.
 */
function appends(seed: number, count: number, { users = USERS, parts = PARTS } = {}): PersistEntry[][] {
  const r = random(seed)
  let at = 1_000_000
  let tag = 0
  const update = (): StoredUpdate => {
    // Now and then a pause longer than a run, or a clock a little behind the last update's.
    at += r.chance(0.15) ? HISTORY_RUN_MS + 1 : r.chance(0.1) ? -r.int(5000) : r.int(HISTORY_RUN_MS / 4)
    const author = r.pick(users)
    const overwritten: OverwrittenPart[] = []
    if (r.chance(0.25))
      for (let i = 0, n = 1 + r.int(2); i < n; i++)
        overwritten.push({
          part: r.pick(parts),
          value: r.chance(0.2) ? `lost\u0000${tag}` : `lost ${tag}`,
          author: r.pick(users),
          keptBy: r.chance(0.3) ? author : r.pick(users),
        })
    return {
      update: new Uint8Array([tag++ % 256, seed % 256]),
      author,
      changed: parts.filter(() => r.chance(0.3)),
      at,
      clients: r.chance(0.3) ? [1 + r.int(6), 1 + r.int(6)] : undefined,
      overwritten: overwritten.length > 0 ? overwritten : undefined,
    }
  }
  const projection = (docName: string): ProjectionRow => {
    const full = r.chance(0.8)
    const values = {
      workspace: 'acme',
      collection: 'deals',
      id: docName.split('/')[2]!,
      fields: JSON.stringify({ title: `t${tag}` }),
      notes: r.chance(0.2) ? `n\u0000${tag}` : `n${tag}`,
      items: '[]',
      authority: '{}',
      etag: `e${tag}`,
      created_at: at,
      updated_at: at,
      ...(full ? { updated_by: r.chance(0.3) ? null : r.pick(['u1', 'u2']) } : {}),
      version: 1 + r.int(3),
    }
    return {
      table: 'records',
      key: ['workspace', 'collection', 'id'],
      values,
      insertOnly: ['created_at'],
      keepIfNull: ['updated_by'],
      increment: ['version'],
    }
  }
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + r.int(4) }, (): PersistEntry => {
      const docName = r.pick(DOCS)
      return {
        docName,
        updates: Array.from({ length: r.int(4) }, update),
        snapshot: r.chance(0.1) ? new Uint8Array([200, tag++ % 256]) : undefined,
        projection: r.chance(0.7) ? projection(docName) : undefined,
      }
    }),
  )
}

/** Everything a store holds, comparable across engines (no seqs: each engine numbers its own). */
async function contents(store: DocStore, rows: <R>(sql: string) => Promise<R[]>) {
  const docs: Record<string, unknown> = {}
  for (const doc of DOCS) {
    const loaded = await store.load(doc)
    docs[doc] = {
      updates: loaded.updates.map((u) => [...u]),
      loggedCount: loaded.loggedCount,
      loggedBytes: loaded.loggedBytes,
      clientAuthors: [...loaded.clientAuthors].sort(([a], [b]) => a - b),
    }
  }
  return {
    docs,
    history: await rows('SELECT doc, at, user_id, fields, overwritten FROM history ORDER BY doc, seq'),
    records: await rows(
      'SELECT workspace, collection, id, fields, notes, items, authority, deleted, complete, version, etag, created_at, updated_at, updated_by FROM records ORDER BY id',
    ),
  }
}

describe.skipIf(skipPg)('PgDocStore: batched appends', () => {
  const database = useMigratedDatabase()
  const pools: Pool[] = []
  let dir: string
  let db: Db
  beforeAll(() => {
    dir = tempDir('accord-docstore-')
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end()
    await database.pool.query(`TRUNCATE ${TABLES}`)
    if (db?.open) db.close()
  })

  /** A store on a pool of its own: another server process on the same database. */
  const process = async () => {
    const pool = await openPool(database.url, { max: 2 })
    pools.push(pool)
    return new PgDocStore(pool)
  }
  const pgRows = async <R>(sql: string) => (await database.pool.query(sql)).rows as R[]
  /** What SqliteDocStore leaves after the same appends. */
  const onSqlite = async (all: PersistEntry[][], seed: number) => {
    db = openDatabase(join(dir, `seed-${seed}.db`))
    const store = new InlineDocStore(db)
    for (const entries of all) await store.append(entries)
    return contents(store, async <R>(sql: string) => db.prepare(sql).all() as R[])
  }

  it('[PGD7] random appends leave the same log, snapshots, client ids, history and projection rows as on SQLite', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const all = appends(seed, 60)
      const store = await process()
      for (const entries of all) await store.append(entries)
      const expected = await onSqlite(all, seed)
      expect(expected.history.length).toBeGreaterThan(20)
      expect(await contents(store, pgRows), `seed ${seed}`).toEqual(expected)
      await database.pool.query(`TRUNCATE ${TABLES}`)
      db.close()
    }
  })

  it('[PGD8] two processes taking turns on the same documents: what one knows of a history is re-read once the other wrote, and all is as on SQLite', async () => {
    const edit = (author: string, at: number): PersistEntry[] => [
      { docName: DOCS[0]!, updates: [{ update: new Uint8Array([at % 256]), author, changed: ['title'], at }] },
    ]
    // One's latest entry is no longer the latest once the other wrote: the third edit is an entry of its own.
    const turns = [edit('u1', 1000), edit('u1', 2000), edit('u2', 3000), edit('u1', 4000)]
    const [one, two] = [await process(), await process()]
    for (const [i, entries] of turns.entries()) await (i === 2 ? two : one).append(entries)
    expect(await contents(one, pgRows)).toEqual(await onSqlite(turns, 0))
    expect((await pgRows<{ user_id: string }>('SELECT user_id FROM history ORDER BY seq')).map((e) => e.user_id)).toEqual([
      'u1',
      'u1',
      'u2',
      'u1',
    ])
    await database.pool.query(`TRUNCATE ${TABLES}`)
    db.close()

    // Few people and parts: runs of edits, extended or not, often cross from one process to the other.
    for (const seed of [11, 12, 13, 14]) {
      const all = appends(seed, 80, { users: ['u1', 'u2', null], parts: ['title', 'notes'] })
      const stores = [await process(), await process()]
      const pick = random(seed)
      for (const entries of all) await pick.pick(stores).append(entries)
      expect(await contents(stores[0]!, pgRows), `seed ${seed}`).toEqual(await onSqlite(all, seed))
      await database.pool.query(`TRUNCATE ${TABLES}`)
      db.close()
    }
  })

  it('[PGD9] an append takes the same number of statements for one document as for fifty: four (BEGIN, reservation, writes, COMMIT), one more when history must be read', async () => {
    const edit = (doc: number, i: number, overwritten?: OverwrittenPart[]): PersistEntry => ({
      docName: `acme/deals/d${doc}`,
      updates: [{ update: new Uint8Array([doc, i]), author: 'u1', changed: ['title'], at: i, clients: [doc], overwritten }],
      projection: recordRow(`d${doc}`, i),
    })
    const group = (size: number, i: number) => Array.from({ length: size }, (_, d) => edit(d + 1, i))
    await withPgProxy(database.url, async (proxy) => {
      const store = new PgDocStore(proxy.pool)
      const statements = async (entries: PersistEntry[]) => {
        const before = proxy.statements
        await store.append(entries)
        return proxy.statements - before
      }
      // The first append reads the documents' history (and the projection table's columns, once).
      expect(await statements(group(50, 1))).toBeLessThanOrEqual(6)
      expect(await statements(group(50, 2))).toBe(4)
      expect(await statements(group(1, 3))).toBe(4)
      expect(await statements([...group(50, 4), edit(7, 4), { ...edit(9, 4), snapshot: new Uint8Array([9]) }])).toBe(4)
      // A lost value goes on someone's entry, which is looked up.
      const lost = [{ part: 'title', value: 'x', author: 'u2', keptBy: 'u3' }]
      expect(await statements([...group(49, 5), edit(50, 5, lost)])).toBe(5)
      // d9 was compacted in the fourth append, after its update there: its log is the fifth's.
      expect((await store.load('acme/deals/d9')).updates.map((u) => [...u])).toEqual([[9], [9, 5]])
      expect((await store.load('acme/deals/d7')).loggedCount).toBe(5)
    })
  })

  it('[PGD10] an append resolves with the log numbers it gave each document, in commit order across processes', async () => {
    const [one, two] = [await process(), await process()]
    const edit = (doc: string, n: number): PersistEntry => ({
      docName: doc,
      updates: Array.from({ length: n }, (_, i) => ({ update: new Uint8Array([n, i]), author: 'u1', changed: ['title'], at: i })),
    })
    expect(await one.append([edit('a', 2), edit('b', 1)])).toEqual(
      new Map([
        ['a', { first: 1, last: 2 }],
        ['b', { first: 1, last: 1 }],
      ]),
    )
    expect(await two.append([edit('a', 3)])).toEqual(new Map([['a', { first: 3, last: 5 }]]))
    // A compacting append is numbered too (the snapshot covers its numbers); a snapshot alone gets none.
    expect(
      await one.append([
        { ...edit('a', 1), snapshot: new Uint8Array([1]) },
        { ...edit('b', 0), snapshot: new Uint8Array([2]) },
      ]),
    ).toEqual(new Map([['a', { first: 6, last: 6 }]]))
    expect(await pgRows('SELECT doc, last_seq::integer FROM docs ORDER BY doc')).toEqual([
      { doc: 'a', last_seq: 6 },
      { doc: 'b', last_seq: 1 },
    ])
  })

  it("[PGD11] a fence runs in the append's transaction with its documents; its refusal rejects at once and writes nothing", async () => {
    const pool = await openPool(database.url, { max: 2 })
    pools.push(pool)
    const calls: string[][] = []
    let refuse = false
    const store = new PgDocStore(pool, {
      fence: async (_client, docs) => {
        calls.push([...docs])
        return refuse ? new Error('not yours') : null
      },
    })
    const entry = (doc: string): PersistEntry => ({
      docName: doc,
      updates: [{ update: new Uint8Array([1]), author: null, changed: [], at: 1 }],
    })
    await store.append([entry('x'), entry('y'), entry('x')])
    expect(calls).toEqual([['x', 'y']])
    refuse = true
    await expect(store.append([entry('x')])).rejects.toThrow('not yours')
    expect(calls).toHaveLength(2)
    expect(await pgRows('SELECT doc, last_seq::integer FROM docs ORDER BY doc')).toEqual([
      { doc: 'x', last_seq: 2 },
      { doc: 'y', last_seq: 1 },
    ])
    expect((await store.load('x')).updates).toHaveLength(2)
  })
})
