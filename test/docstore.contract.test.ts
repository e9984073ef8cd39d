/**
 * The DocStore contract, one suite for every implementation: in memory, SQLite on a real
 * file written on the event loop (inline), by the server's store in `auto` mode and on its
 * writer thread, and PostgreSQL on a fresh database (test/helpers/pg.ts; skipped with one
 * line when no PostgreSQL is reachable, except on CI).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DocStore, PersistEntry, ProjectionRow, SqlValue, StoredUpdate } from '../server/store/DocStore.js'
import { InlineDocStore } from '../server/store/InlineDocStore.js'
import { MemoryDocStore } from '../server/store/MemoryDocStore.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { ThreadedDocStore, type WriterMode } from '../server/store/ThreadedDocStore.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

/** One store under test, and what the contract needs around it. */
interface Subject {
  store: DocStore
  /** Closes the store and opens it again on the same data (a server restart). */
  reopen(): Promise<DocStore>
  /** The projection row stored for a record. */
  projection(
    workspace: string,
    collection: string,
    id: string,
  ): Readonly<Record<string, SqlValue>> | undefined | Promise<Readonly<Record<string, SqlValue>> | undefined>
  /** Closes whatever is open and removes what the subject created. */
  dispose(): Promise<void>
}

const DOC = 'acme/deals/d1'
const OTHER = 'acme/deals/d2'

const bytes = (...values: number[]) => new Uint8Array(values)
const stored = (update: Uint8Array, changed: string[] = []): StoredUpdate => ({ update, author: 'u1', changed, at: 1 })
const entry = (docName: string, updates: Uint8Array[], extra: Partial<PersistEntry> = {}): PersistEntry => ({
  docName,
  updates: updates.map((u) => stored(u)),
  ...extra,
})
/** The stored bytes as plain arrays (a store may hand back Buffers or views). */
const contentOf = async (store: DocStore, docName: string) => (await store.load(docName)).updates.map((u) => Array.from(u))

/** A record's projection row, as the records module writes it (server/records/recordProjection.ts). */
function projectionOf(id: string, title: string, updatedBy: string | null, at = 1): ProjectionRow {
  return {
    table: 'records',
    key: ['workspace', 'collection', 'id'],
    values: {
      workspace: 'acme',
      collection: 'deals',
      id,
      fields: JSON.stringify({ title }),
      notes: '',
      items: '[]',
      authority: '{}',
      deleted: 0,
      complete: 1,
      etag: `e-${title}`,
      created_at: at,
      updated_at: at,
      updated_by: updatedBy,
    },
    insertOnly: ['created_at'],
    keepIfNull: ['updated_by'],
  }
}

/**
 * `setup` runs inside the suite's `describe`, so it may register `beforeAll`/`afterAll`
 * hooks for what its subjects share (a database), and returns how to make one subject.
 */
function docStoreContract(name: string, setup: () => () => Subject | Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(`DocStore contract: ${name}`, () => {
    const make = setup()
    let s: Subject
    let store: DocStore
    beforeEach(async () => {
      s = await make()
      store = s.store
    })
    afterEach(() => s.dispose())

    it('[D1] an empty document loads as no updates and an empty log', async () => {
      expect(await store.load(DOC)).toEqual({ updates: [], loggedCount: 0, loggedBytes: 0, clientAuthors: [] })
    })

    it('[D2] append then load returns the updates in order, counted in loggedCount and loggedBytes', async () => {
      await store.append([entry(DOC, [bytes(1), bytes(2, 2)])])
      await store.append([entry(DOC, [bytes(3, 3, 3)])])
      expect(await contentOf(store, DOC)).toEqual([[1], [2, 2], [3, 3, 3]])
      expect(await store.load(DOC)).toMatchObject({ loggedCount: 3, loggedBytes: 6 })
      expect(await contentOf(store, OTHER)).toEqual([])
    })

    it('[D3] several documents in one append are written together; a batch that fails half-way leaves nothing of it', async () => {
      await store.append([entry(DOC, [bytes(1)]), entry(OTHER, [bytes(2)])])
      expect(await contentOf(store, DOC)).toEqual([[1]])
      expect(await contentOf(store, OTHER)).toEqual([[2]])
      // The second document's update is not bytes: the store refuses it after taking the first.
      const broken = [entry(DOC, [bytes(3)]), { docName: OTHER, updates: [stored(null as unknown as Uint8Array)] }]
      await expect(store.append(broken)).rejects.toThrow()
      expect(await contentOf(store, DOC)).toEqual([[1]])
      expect(await contentOf(store, OTHER)).toEqual([[2]])
      expect((await store.load(DOC)).loggedCount).toBe(1)
      await store.append([entry(DOC, [bytes(4)])])
      expect(await contentOf(store, DOC)).toEqual([[1], [4]])
    })

    it('[D4] a snapshot replaces the log: load returns it first, and loggedCount and loggedBytes start again from zero', async () => {
      await store.append([entry(DOC, [bytes(1), bytes(2)])])
      await store.append([entry(DOC, [bytes(3)], { snapshot: bytes(9, 9) })])
      expect(await store.load(DOC)).toMatchObject({ loggedCount: 0, loggedBytes: 0 })
      expect(await contentOf(store, DOC)).toEqual([[9, 9]])
      // The registry's compaction sends a snapshot with no updates.
      await store.append([entry(DOC, [bytes(4)])])
      await store.append([entry(DOC, [], { snapshot: bytes(8) })])
      expect(await contentOf(store, DOC)).toEqual([[8]])
      expect((await store.load(DOC)).loggedCount).toBe(0)
    })

    it('[D5] updates appended after a snapshot follow it', async () => {
      await store.append([entry(DOC, [bytes(1)], { snapshot: bytes(9) })])
      await store.append([entry(DOC, [bytes(2)]), entry(OTHER, [bytes(5)])])
      await store.append([entry(DOC, [bytes(3, 3)])])
      expect(await contentOf(store, DOC)).toEqual([[9], [2], [3, 3]])
      expect(await store.load(DOC)).toMatchObject({ loggedCount: 2, loggedBytes: 3 })
    })

    it('[D6] writes complete in the order they were made', async () => {
      const done: number[] = []
      const writes = Array.from({ length: 50 }, (_, i) => store.append([entry(DOC, [bytes(i)])]).then(() => done.push(i)))
      await Promise.all(writes)
      const order = Array.from({ length: 50 }, (_, i) => i)
      expect(done).toEqual(order)
      expect(await contentOf(store, DOC)).toEqual(order.map((i) => [i]))
    })

    it('[D7] reopening keeps every document, snapshot and log', async () => {
      await store.append([entry(DOC, [bytes(1)], { snapshot: bytes(9) }), entry(OTHER, [bytes(2)])])
      await store.append([entry(DOC, [bytes(3)])])
      const reopened = await s.reopen()
      expect(await contentOf(reopened, DOC)).toEqual([[9], [3]])
      expect(await reopened.load(DOC)).toMatchObject({ loggedCount: 1, loggedBytes: 1 })
      expect(await contentOf(reopened, OTHER)).toEqual([[2]])
    })

    it('[D8] close waits for the writes in progress', async () => {
      const settled: number[] = []
      for (let i = 0; i < 20; i++) void store.append([entry(DOC, [bytes(i)])]).then(() => settled.push(i))
      await store.close()
      expect(settled).toHaveLength(20)
      const reopened = await s.reopen()
      expect(await contentOf(reopened, DOC)).toHaveLength(20)
    })

    it('[D9] the projection row is written with the updates and replaces the row of its key; a column kept if null keeps its last value, one written on insert only its first', async () => {
      await store.append([entry(DOC, [bytes(1)], { projection: projectionOf('d1', 'First', 'u1', 10) })])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({
        fields: '{"title":"First"}',
        updated_by: 'u1',
        etag: 'e-First',
        created_at: 10,
      })
      await store.append([entry(DOC, [bytes(2)], { projection: projectionOf('d1', 'Second', null, 20) })])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({
        fields: '{"title":"Second"}',
        updated_by: 'u1',
        created_at: 10,
        updated_at: 20,
      })
      expect(await s.projection('acme', 'deals', 'd2')).toBeUndefined()
    })

    it('[D10] a healthy store reports no failure', () => {
      expect(store.failure()).toBeNull()
    })

    it('[D11] a column that counts is written on insert and added to the stored value on every later upsert, surviving a reopen', async () => {
      const counted = (id: string, version: number): ProjectionRow => {
        const row = projectionOf(id, 'Counted', 'u1')
        return { ...row, values: { ...row.values, version }, increment: ['version'] }
      }
      await store.append([entry(DOC, [bytes(1), bytes(2)], { projection: counted('d1', 2) })])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({ version: 2 })
      await store.append([
        entry(DOC, [bytes(3)], { projection: counted('d1', 1) }),
        entry(OTHER, [bytes(4)], { projection: counted('d2', 1) }),
      ])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({ version: 3 })
      expect(await s.projection('acme', 'deals', 'd2')).toMatchObject({ version: 1 })
      const reopened = await s.reopen()
      await reopened.append([entry(DOC, [bytes(5)], { projection: counted('d1', 1) })])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({ version: 4 })
    })

    it("[D12] the client ids an update introduced stay its author's, the first author's, across a compaction and a reopen; the server's own (no author) are not kept", async () => {
      const by = (author: string | null, clients: number[]): StoredUpdate => ({ update: bytes(1), author, changed: [], at: 1, clients })
      await store.append([
        { docName: DOC, updates: [by('u1', [11, 12]), by(null, [13])] },
        { docName: OTHER, updates: [by('u3', [11])] },
      ])
      await store.append([{ docName: DOC, updates: [by('u2', [12, 14])] }])
      await store.append([entry(DOC, [], { snapshot: bytes(9) })])
      const authors = async (loaded: DocStore) => new Map((await loaded.load(DOC)).clientAuthors)
      const expected = new Map([
        [11, 'u1'],
        [12, 'u1'],
        [14, 'u2'],
      ])
      expect(await authors(store)).toEqual(expected)
      const reopened = await s.reopen()
      expect(await authors(reopened)).toEqual(expected)
      expect((await reopened.load(OTHER)).clientAuthors).toEqual([[11, 'u3']])
    })

    it('[D13] a NUL (U+0000) in a projection value is stored as U+FFFD; the document keeps its bytes, and the other documents of the append are written', async () => {
      const row = projectionOf('d1', 'Nul', 'u1')
      await store.append([
        entry(DOC, [bytes(0, 1)], { projection: { ...row, values: { ...row.values, notes: 'a\u0000b' } } }),
        entry(OTHER, [bytes(2)], { projection: projectionOf('d2', 'Other', 'u1') }),
      ])
      expect(await s.projection('acme', 'deals', 'd1')).toMatchObject({ notes: 'a\uFFFDb', etag: 'e-Nul' })
      expect(await s.projection('acme', 'deals', 'd2')).toMatchObject({ fields: '{"title":"Other"}' })
      expect(await contentOf(store, DOC)).toEqual([[0, 1]])
      expect(await contentOf(store, OTHER)).toEqual([[2]])
    })
  })
}

docStoreContract('memory', () => () => {
  let current = new MemoryDocStore()
  return {
    store: current,
    async reopen() {
      await current.close()
      current = current.reopen()
      return current
    },
    projection: (workspace, collection, id) => current.row('records', { workspace, collection, id }),
    dispose: () => current.close(),
  }
})

/** A store over a real SQLite file in a temporary folder; `open` makes the implementation. */
function sqliteSubject(open: (db: Db, file: string) => DocStore): () => () => Subject {
  return () => () => {
    const dir = tempDir('accord-docstore-')
    const file = join(dir, 'accord.db')
    let db = openDatabase(file)
    let current = open(db, file)
    const shut = async () => {
      await current.close()
      if (db.open) db.close()
    }
    return {
      store: current,
      async reopen() {
        await shut()
        db = openDatabase(file)
        current = open(db, file)
        return current
      },
      projection(workspace, collection, id) {
        return db.prepare('SELECT * FROM records WHERE workspace = ? AND collection = ? AND id = ?').get(workspace, collection, id) as
          | Record<string, SqlValue>
          | undefined
      },
      async dispose() {
        await shut()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
}

const threaded = (mode: WriterMode) => (db: Db, file: string) => new ThreadedDocStore(db, file, { mode })

docStoreContract(
  'SQLite, inline',
  sqliteSubject((db) => new InlineDocStore(db)),
)
docStoreContract('SQLite, ThreadedDocStore auto', sqliteSubject(threaded('auto')))
docStoreContract('SQLite, ThreadedDocStore on its writer thread', sqliteSubject(threaded('thread')))

docStoreContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return async () => {
      // A pool of the subject's own: reopening ends it and opens another, as a restarted server would.
      let pool: Pool = await openPool(database.url, { max: 4 })
      let current = new PgDocStore(pool)
      const shut = async () => {
        await current.close()
        await pool.end()
      }
      return {
        store: current,
        async reopen() {
          await shut()
          pool = await openPool(database.url, { max: 4 })
          current = new PgDocStore(pool)
          return current
        },
        async projection(workspace, collection, id) {
          const { rows } = await pool.query<Record<string, SqlValue>>(
            'SELECT * FROM records WHERE workspace = $1 AND collection = $2 AND id = $3',
            [workspace, collection, id],
          )
          return rows[0]
        },
        async dispose() {
          await shut()
          await database.pool.query('TRUNCATE docs, doc_updates, doc_snapshots, doc_clients, history, records')
        },
      }
    }
  },
  skipPg,
)

describe('MemoryDocStore specifics', () => {
  it('a held store commits nothing until released, then everything in order', async () => {
    const store = new MemoryDocStore()
    const hold = store.hold()
    const first = store.append([entry(DOC, [bytes(1)])])
    const second = store.append([entry(DOC, [bytes(2)])])
    expect((await hold.entered).map((e) => e.docName)).toEqual([DOC])
    expect(store.pendingWrites).toBe(2)
    expect(await contentOf(store, DOC)).toEqual([])
    hold.release()
    await Promise.all([first, second])
    expect(await contentOf(store, DOC)).toEqual([[1], [2]])
    expect(store.pendingWrites).toBe(0)
  })

  it('a failed store refuses the writes not yet committed and every later one, and says why', async () => {
    const store = new MemoryDocStore()
    const hold = store.hold()
    const waiting = store.append([entry(DOC, [bytes(1)])])
    await hold.entered
    const died = new Error('the writer died')
    store.fail(died)
    hold.release()
    await expect(waiting).rejects.toBe(died)
    await expect(store.append([entry(DOC, [bytes(2)])])).rejects.toBe(died)
    expect(store.failure()).toBe(died)
    expect(await contentOf(store, DOC)).toEqual([])
  })

  it('a closed store refuses appends', async () => {
    const store = new MemoryDocStore()
    await store.close()
    await expect(store.append([entry(DOC, [bytes(1)])])).rejects.toThrow(/closed/)
  })
})
