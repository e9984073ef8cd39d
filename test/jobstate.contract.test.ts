/**
 * The JobStateStore contract (import keys, Sheets sync state), one suite for every
 * implementation: SQLite on a real file, PostgreSQL on a fresh database (test/helpers/pg.ts;
 * skipped with one line when no PostgreSQL is reachable, except on CI). Each subject is
 * several stores on connections of their own to one database, as several processes would be.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ImportKeyOwner, JobStateStore, SheetTab } from '../server/jobs/JobStateStore.js'
import { PgJobStateStore } from '../server/jobs/PgJobStateStore.js'
import { SqliteJobStateStore } from '../server/jobs/SqliteJobStateStore.js'
import { openPool } from '../server/pg/openPool.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

/** Stores sharing one database, each on its own connection. */
interface Subject {
  stores: JobStateStore[]
  /** Closes the stores and empties or removes the database. */
  close(): Promise<void>
}

const CONNECTIONS = 8
const customers = { workspace: 'w', collection: 'customers' }

function jobStateContract(name: string, setup: () => () => Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(`JobStateStore contract: ${name}`, () => {
    const open = setup()
    let subject: Subject
    let store: JobStateStore
    beforeEach(async () => {
      subject = await open()
      store = subject.stores[0]!
    })
    afterEach(() => subject.close())

    const owner = (recordId: string, jobId = 'job-1'): ImportKeyOwner => ({ recordId, jobId })

    it('[JST1] a claimed key reads back with its owner, per workspace and collection; unknown keys have none', async () => {
      expect(await store.claimImportKey(customers, 'email:a@x.test', owner('r1'))).toEqual(owner('r1'))
      expect(await store.claimImportKey(customers, 'content:abc', owner('r2'))).toEqual(owner('r2'))
      expect(await store.claimImportKey({ workspace: 'w', collection: 'leads' }, 'email:a@x.test', owner('r3'))).toEqual(owner('r3'))
      expect(await store.claimImportKey({ workspace: 'v', collection: 'customers' }, 'email:a@x.test', owner('r4'))).toEqual(owner('r4'))
      const owners = await store.importKeyOwners(customers, ['email:a@x.test', 'content:abc', 'email:none@x.test'])
      expect(owners).toEqual(
        new Map([
          ['email:a@x.test', owner('r1')],
          ['content:abc', owner('r2')],
        ]),
      )
      expect(await store.importKeyOwners(customers, [])).toEqual(new Map())
      expect(await subject.stores[1]!.importKeyOwners({ workspace: 'w', collection: 'leads' }, ['email:a@x.test'])).toEqual(
        new Map([['email:a@x.test', owner('r3')]]),
      )
    })

    it('[JST2] a claim of an owned key returns the owner unchanged, unless the owner is the stale one it names', async () => {
      await store.claimImportKey(customers, 'k', owner('r1', 'job-1'))
      expect(await store.claimImportKey(customers, 'k', owner('r2', 'job-2'))).toEqual(owner('r1', 'job-1'))
      // Naming another owner as stale (the record of job-1 under another id) changes nothing.
      expect(await store.claimImportKey(customers, 'k', owner('r2', 'job-2'), owner('r1', 'job-9'))).toEqual(owner('r1', 'job-1'))
      expect(await store.claimImportKey(customers, 'k', owner('r2', 'job-2'), owner('r9', 'job-1'))).toEqual(owner('r1', 'job-1'))
      expect(await store.claimImportKey(customers, 'k', owner('r2', 'job-2'), owner('r1', 'job-1'))).toEqual(owner('r2', 'job-2'))
      // The stale owner is gone now: a second claim naming it loses to the first.
      expect(await store.claimImportKey(customers, 'k', owner('r3', 'job-3'), owner('r1', 'job-1'))).toEqual(owner('r2', 'job-2'))
      expect((await store.importKeyOwners(customers, ['k'])).get('k')).toEqual(owner('r2', 'job-2'))
    })

    it('[JST3] claims of one key at once on several connections: exactly one wins, and every claim returns it', async () => {
      const keys = Array.from({ length: 20 }, (_, i) => `email:person${i}@x.test`)
      const claims = keys.flatMap((key) =>
        subject.stores.map((s, c) => {
          const mine = owner(`${key}/r${c}`, `job-${c}`)
          return s.claimImportKey(customers, key, mine).then((winner) => ({ key, mine, winner }))
        }),
      )
      const results = await Promise.all(claims)
      const stored = await store.importKeyOwners(customers, keys)
      for (const key of keys) {
        const forKey = results.filter((r) => r.key === key)
        const won = forKey.filter((r) => r.winner.recordId === r.mine.recordId && r.winner.jobId === r.mine.jobId)
        expect(won.length).toBe(1)
        for (const r of forKey) expect(r.winner).toEqual(won[0]!.mine)
        expect(stored.get(key)).toEqual(won[0]!.mine)
      }
    })

    it('[JST4] taking over a stale key at once on several connections: exactly one wins', async () => {
      const stale = owner('gone', 'job-old')
      await store.claimImportKey(customers, 'k', stale)
      const results = await Promise.all(subject.stores.map((s, c) => s.claimImportKey(customers, 'k', owner(`r${c}`, `job-${c}`), stale)))
      const winner = results[0]!
      expect(winner).not.toEqual(stale)
      for (const result of results) expect(result).toEqual(winner)
      expect(results.filter((_, c) => winner.recordId === `r${c}`).length).toBe(1)
    })

    it('[JST5] a tab state reads back as saved, per user, spreadsheet and tab; saving again replaces it', async () => {
      const tab = { userId: 'u1', spreadsheetId: 's1', tab: 'customers' }
      expect(await store.sheetTab(tab)).toBeUndefined()
      const state: SheetTab = {
        header: ['id', 'name'],
        rows: [
          ['a', 'h1'],
          ['b', 'h2'],
        ],
        jobId: 'job-1',
        baseline: { header: [], rows: [] },
      }
      await store.saveSheetTab(tab, state)
      expect(await subject.stores[1]!.sheetTab(tab)).toEqual(state)
      expect(await store.sheetTab({ ...tab, userId: 'u2' })).toBeUndefined()
      expect(await store.sheetTab({ ...tab, spreadsheetId: 's2' })).toBeUndefined()
      expect(await store.sheetTab({ ...tab, tab: 'deals' })).toBeUndefined()
      const next: SheetTab = {
        header: ['id', 'name'],
        rows: [['b', 'h3']],
        jobId: 'job-2',
        baseline: { header: state.header, rows: state.rows },
      }
      await subject.stores[1]!.saveSheetTab(tab, next)
      expect(await store.sheetTab(tab)).toEqual(next)
    })

    it("[JST6] a user's and the workspace's spreadsheets are kept apart, replaced when saved again, and forgotten", async () => {
      const mine = { workspace: 'w', userId: 'u1' }
      const workspace = { workspace: 'w', userId: null }
      const target = { spreadsheetId: 's1', title: 'Mine', savedBy: 'u1', savedAt: 1_790_000_000_123 }
      expect(await store.sheetTarget(mine)).toBeUndefined()
      await store.saveSheetTarget(mine, target)
      expect(await subject.stores[1]!.sheetTarget(mine)).toEqual(target)
      expect(await store.sheetTarget(workspace)).toBeUndefined()
      expect(await store.sheetTarget({ workspace: 'w', userId: 'u2' })).toBeUndefined()
      expect(await store.sheetTarget({ workspace: 'other', userId: 'u1' })).toBeUndefined()
      const shared = { spreadsheetId: 's2', title: 'Team', savedBy: 'admin', savedAt: 1_790_000_000_456 }
      await store.saveSheetTarget(workspace, shared)
      await subject.stores[1]!.saveSheetTarget(mine, { ...target, spreadsheetId: 's3', title: 'Mine too' })
      expect(await store.sheetTarget(mine)).toEqual({ ...target, spreadsheetId: 's3', title: 'Mine too' })
      expect(await store.sheetTarget(workspace)).toEqual(shared)
      await store.saveSheetTarget(mine, null)
      expect(await subject.stores[1]!.sheetTarget(mine)).toBeUndefined()
      expect(await store.sheetTarget(workspace)).toEqual(shared)
    })

    it('[JST7] exclusive: holders of one key on several connections run one at a time, other keys at once; an abort ends the wait', async () => {
      const events: string[] = []
      const hold = (s: JobStateStore, key: string, name: string, ms: number) =>
        s.exclusive(key, new AbortController().signal, async () => {
          events.push(`${name}+`)
          await new Promise((resolve) => setTimeout(resolve, ms))
          events.push(`${name}-`)
          return name
        })
      const results = await Promise.all([
        hold(store, 'sheets:w:s1', 'a', 150),
        hold(subject.stores[1]!, 'sheets:w:s1', 'b', 50),
        hold(subject.stores[2]!, 'sheets:w:s1', 'c', 50),
        hold(subject.stores[3]!, 'sheets:w:other', 'x', 20),
      ])
      expect(results).toEqual(['a', 'b', 'c', 'x'])
      // x ran while a held s1; the holders of s1 never overlapped.
      expect(events.indexOf('x-')).toBeLessThan(events.indexOf('a-'))
      const s1 = events.filter((e) => !e.startsWith('x'))
      for (let i = 0; i < s1.length; i += 2) expect(s1[i]!.slice(0, 1)).toBe(s1[i + 1]!.slice(0, 1))

      const abort = new AbortController()
      const held = hold(store, 'sheets:w:s1', 'd', 300)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const waiting = subject.stores[1]!.exclusive('sheets:w:s1', abort.signal, async () => 'never')
      abort.abort(new Error('cancelled'))
      await expect(waiting).rejects.toThrow('cancelled')
      expect(await held).toBe('d')
      // Released: the key can be held again.
      expect(await subject.stores[1]!.exclusive('sheets:w:s1', new AbortController().signal, async () => 'again')).toBe('again')
    })
  })
}

jobStateContract('SQLite', () => async () => {
  const dir = tempDir('accord-jobstate-')
  const dbs = Array.from({ length: CONNECTIONS }, () => openDatabase(join(dir, 'accord.db')))
  return {
    stores: dbs.map((db) => new SqliteJobStateStore(db)),
    async close() {
      for (const db of dbs) db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

jobStateContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return async () => {
      const pools = await Promise.all(Array.from({ length: CONNECTIONS }, () => openPool(database.url, { max: 1 })))
      return {
        stores: pools.map((pool) => new PgJobStateStore(pool)),
        async close() {
          await Promise.all(pools.map((pool) => pool.end()))
          await database.pool.query('TRUNCATE import_keys, sheet_state, sheet_targets')
        },
      }
    }
  },
  skipPg,
)
