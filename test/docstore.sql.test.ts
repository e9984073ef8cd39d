/**
 * What the SQL document stores keep beyond the DocStore contract, run against SQLite and
 * PostgreSQL: the history (one entry per run of edits, lost values on the kept change's
 * entry), read back from the `history` table; and, on PostgreSQL, the per-document log
 * numbering under concurrent writers and appends whose COMMIT outcome was lost with their
 * connection (test/helpers/pg.ts; skipped with one line when no PostgreSQL is reachable,
 * except on CI).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Pool, openPool } from '../server/pg/openPool.js'
import type { DocStore, OverwrittenPart, PersistEntry, StoredUpdate } from '../server/store/DocStore.js'
import { HISTORY_RUN_MS } from '../server/store/historyRuns.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { type CommitLoss, withPgProxy } from './helpers/pgProxy.js'
import { tempDir } from './helpers/server.js'
import { recordRow } from './helpers/recordRows.js'

const DOC = 'acme/deals/d1'

interface HistoryRow {
  at: number
  user_id: string | null
  fields: string
  overwritten: string | null
}

interface Subject {
  store: DocStore
  /** The document's history entries, oldest first. */
  history(docName: string): Promise<HistoryRow[]>
  dispose(): Promise<void>
}

const edit = (author: string | null, changed: string[], at: number, overwritten?: OverwrittenPart[]): StoredUpdate => ({
  update: new Uint8Array([1]),
  author,
  changed,
  at,
  overwritten,
})

function historyContract(name: string, setup: () => () => Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(`SQL store history: ${name}`, () => {
    const make = setup()
    let s: Subject
    let write: (...updates: StoredUpdate[]) => Promise<unknown>
    const entries = async () =>
      (await s.history(DOC)).map((row) => ({
        ...row,
        fields: JSON.parse(row.fields),
        overwritten: row.overwritten && JSON.parse(row.overwritten),
      }))
    beforeEach(async () => {
      s = await make()
      write = (...updates) => s.store.append([{ docName: DOC, updates }])
    })
    afterEach(() => s.dispose())

    it('[H1] a run of edits by one person to the same parts extends the latest entry, never the first (the creation)', async () => {
      await write(edit('u1', ['title'], 1000))
      await write(edit('u1', ['title'], 2000))
      await write(edit('u1', ['title'], 3000), edit('u1', ['title'], 2000 + HISTORY_RUN_MS))
      expect((await entries()).map((e) => [e.at, e.user_id, e.fields])).toEqual([
        [1000, 'u1', ['title']],
        [2000 + HISTORY_RUN_MS, 'u1', ['title']],
      ])
    })

    it('[H2] other parts, another person, a pause longer than the run, or the server start a new entry', async () => {
      await write(edit('u1', ['title'], 0))
      await write(edit('u1', ['title'], 1000))
      await write(edit('u1', ['title', 'value'], 2000))
      await write(edit('u2', ['title', 'value'], 3000))
      await write(edit('u2', ['title', 'value'], 4000 + HISTORY_RUN_MS))
      await write(edit(null, ['authority'], 5000 + HISTORY_RUN_MS))
      await write(edit(null, ['authority'], 6000 + HISTORY_RUN_MS))
      expect((await entries()).map((e) => e.user_id)).toEqual(['u1', 'u1', 'u1', 'u2', 'u2', null, null])
    })

    it('[H3] a lost value goes on the latest entry of the person whose value was kept, which is never extended afterwards', async () => {
      await write(edit('u1', ['notes'], 0))
      await write(edit('u1', ['title'], 1000))
      await write(edit('u2', [], 2000, [{ part: 'title', value: 'Mine', author: 'u2', keptBy: 'u1' }]))
      await write(edit('u1', ['title'], 3000))
      expect((await entries()).map((e) => [e.at, e.user_id, e.fields, e.overwritten])).toEqual([
        [0, 'u1', ['notes'], null],
        [1000, 'u1', ['title'], [{ part: 'title', value: 'Mine', author: 'u2' }]],
        [3000, 'u1', ['title'], null],
      ])
    })

    it("[H4] a value this update's author kept, or one whose winner has no entry for the part, is its own entry", async () => {
      await write(edit('u1', ['notes'], 0))
      await write(edit('u1', [], 1000, [{ part: 'title', value: 'Old', author: 'u2', keptBy: 'u1' }]))
      await write(edit('u2', [], 2000, [{ part: 'value', value: 3, author: 'u2', keptBy: 'u3' }]))
      expect((await entries()).map((e) => [e.user_id, e.fields, e.overwritten])).toEqual([
        ['u1', ['notes'], null],
        ['u1', ['title'], [{ part: 'title', value: 'Old', author: 'u2' }]],
        ['u2', ['value'], [{ part: 'value', value: 3, author: 'u2' }]],
      ])
    })

    it('[H5] a part name or a lost value holding U+0000 is stored as written, and a later lost value still finds the entry of its part', async () => {
      await write(edit('u1', ['notes'], 0))
      await write(edit('u1', ['title'], 1000))
      await write(edit('u1', ['x\u0000'], 2000))
      await write(edit('u2', [], 3000, [{ part: 'title', value: 'Mi\u0000ne', author: 'u2', keptBy: 'u1' }]))
      expect((await entries()).map((e) => [e.user_id, e.fields, e.overwritten])).toEqual([
        ['u1', ['notes'], null],
        ['u1', ['title'], [{ part: 'title', value: 'Mi\u0000ne', author: 'u2' }]],
        ['u1', ['x\u0000'], null],
      ])
    })
  })
}

historyContract('SQLite', () => async () => {
  const dir = tempDir('accord-docstore-')
  const db = openDatabase(join(dir, 'accord.db'))
  return {
    store: new InlineDocStore(db),
    history: async (docName) =>
      db.prepare('SELECT at, user_id, fields, overwritten FROM history WHERE doc = ? ORDER BY seq').all(docName) as HistoryRow[],
    async dispose() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

const TABLES = 'docs, doc_updates, doc_snapshots, doc_clients, history, records, doc_appends'

historyContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return async () => {
      const store = new PgDocStore(database.pool)
      return {
        store,
        history: async (docName) =>
          (
            await database.pool.query<HistoryRow>('SELECT at, user_id, fields, overwritten FROM history WHERE doc = $1 ORDER BY seq', [
              docName,
            ])
          ).rows,
        async dispose() {
          await store.close()
          await database.pool.query(`TRUNCATE ${TABLES}`)
        },
      }
    }
  },
  skipPg,
)

describe.skipIf(skipPg)('PgDocStore specifics', () => {
  const database = useMigratedDatabase()
  const pools: Pool[] = []
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end()
    await database.pool.query(`TRUNCATE ${TABLES}`)
  })
  /** A store on a pool of its own: another server process on the same database. */
  const process = async () => {
    const pool = await openPool(database.url, { max: 4 })
    pools.push(pool)
    return new PgDocStore(pool)
  }
  const seqs = async (docName: string) =>
    (await database.pool.query<{ seq: number }>('SELECT seq FROM doc_updates WHERE doc = $1 ORDER BY seq', [docName])).rows.map(
      (row) => row.seq,
    )

  it('[PGD1] each document numbers its own log 1, 2, 3, … whatever other documents are written', async () => {
    const store = await process()
    await store.append([{ docName: 'a', updates: [edit('u1', [], 1), edit('u1', [], 2)] }])
    await store.append([
      { docName: 'b', updates: [edit('u1', [], 3)] },
      { docName: 'a', updates: [edit('u1', [], 4)] },
    ])
    expect(await seqs('a')).toEqual([1, 2, 3])
    expect(await seqs('b')).toEqual([1])
  })

  /** Append `tag` of a record: its update, a history entry of its own, a projection row counting appends. */
  const recordEdit = (tag: number): PersistEntry[] => [
    {
      docName: DOC,
      updates: [{ update: new Uint8Array([tag]), author: `u${tag}`, changed: ['title'], at: tag, clients: [tag] }],
      projection: recordRow('d1', tag),
    },
  ]
  /** What the database holds of DOC: its log, its history entries and client ids, and the count of appends. */
  const stored = async () => {
    const rows = async <R extends object>(sql: string, values: unknown[] = [DOC]) => (await database.pool.query<R>(sql, values)).rows
    return {
      log: (await rows<{ data: Buffer }>('SELECT data FROM doc_updates WHERE doc = $1 ORDER BY seq')).map((r) => [...r.data]),
      history: (await rows<{ user_id: string }>('SELECT user_id FROM history WHERE doc = $1 ORDER BY seq')).map((r) => r.user_id),
      clients: (await rows<{ client: number }>('SELECT client FROM doc_clients WHERE doc = $1 ORDER BY client')).map((r) => r.client),
      version: (await rows<{ version: number }>("SELECT version FROM records WHERE id = 'd1'", []))[0]?.version,
    }
  }
  const once = { log: [[1], [2], [3]], history: ['u1', 'u2', 'u3'], clients: [1, 2, 3], version: 3 }

  /** Appends 1, 2 and 3 through a proxy that loses the second one's COMMIT as `loss` says; resolves with how long the second took. */
  const appendLosingOne = async (loss: CommitLoss): Promise<number> => {
    let ms = 0
    await withPgProxy(database.url, async (proxy) => {
      const store = new PgDocStore(proxy.pool)
      await store.append(recordEdit(1))
      proxy.lose = loss
      const started = performance.now()
      await store.append(recordEdit(2))
      ms = performance.now() - started
      expect(proxy.lost).toBe(1)
      await store.append(recordEdit(3))
    })
    return ms
  }

  it('[PGD3] an append whose COMMIT reply was lost is tried again, finds itself committed and resolves: written once', async () => {
    await appendLosingOne('commit-reply')
    expect(await stored()).toEqual(once)
  })

  it('[PGD4] an append whose COMMIT never reached the server is written by its retry: nothing lost', async () => {
    await appendLosingOne('commit-request')
    expect(await stored()).toEqual(once)
  })

  it('[PGD5] a COMMIT that reaches the server after the store gave up on its connection: the retry waits for it and finds it committed, written once', async () => {
    // The proxy holds the COMMIT 300 ms: the retry waited for it instead of writing the append again beside it.
    expect(await appendLosingOne('commit-late')).toBeGreaterThanOrEqual(250)
    expect(await stored()).toEqual(once)
  })

  it('[PGD6] an append that gives up not knowing whether it committed rejects, and the next load of its document reads after the outcome', async () => {
    await withPgProxy(database.url, async (proxy) => {
      const store = new PgDocStore(proxy.pool, { maxAttempts: 2, backoffMs: 1 })
      await store.append(recordEdit(1))
      proxy.lose = 'commit-late'
      proxy.lateMs = 500
      // Every retry finds the server unreachable.
      proxy.refuse = true
      await expect(store.append(recordEdit(2))).rejects.toThrow()
      proxy.refuse = false
      // The held COMMIT lands after the rejection: a load that did not wait for it would miss it.
      const loaded = await store.load(DOC)
      expect(loaded.updates.map((u) => [...u])).toEqual([[1], [2]])
      await store.append(recordEdit(3))
    })
    expect(await stored()).toEqual(once)
  })

  it('[PGD2] two processes appending to one document at once, one of them compacting: every update is numbered in commit order and none is lost', async () => {
    const [one, two] = [await process(), await process()]
    const n = 60
    const writes = (store: PgDocStore, tag: number) =>
      Array.from({ length: n }, (_, i) =>
        store.append([
          {
            docName: DOC,
            updates: [{ update: new Uint8Array([tag, i]), author: `u${tag}`, changed: [], at: i }],
            // Every tenth write of the second process compacts the document: its log goes.
            snapshot: tag === 2 && i % 10 === 9 ? new Uint8Array([9, i]) : undefined,
          },
        ]),
      )
    await Promise.all([...writes(one, 1), ...writes(two, 2)])
    const loaded = (await one.load(DOC)).updates.map((u) => Array.from(u))
    // What is logged is what committed after the last compaction: the second process's writes
    // after its last snapshot (none) and the first process's, in its own order.
    expect(loaded[0]).toEqual([9, n - 1])
    const logged = loaded.slice(1)
    expect(logged.every(([tag]) => tag === 1)).toBe(true)
    const own = logged.map(([, i]) => i!)
    expect(own).toEqual([...own].sort((x, y) => x - y))
    const rows = await seqs(DOC)
    expect(rows).toHaveLength(logged.length)
    const { rows: last } = await database.pool.query<{ last_seq: number; upto: number }>(
      'SELECT last_seq, upto FROM docs JOIN doc_snapshots USING (doc) WHERE doc = $1',
      [DOC],
    )
    // Numbers were handed out without a gap: 2n updates in all, the log is the tail after the snapshot.
    expect(last[0]!.last_seq).toBe(2 * n)
    expect(rows).toEqual(Array.from({ length: logged.length }, (_, i) => last[0]!.upto + 1 + i))
  })
})
