/**
 * Accord on a PostgreSQL that accepts connections but does not answer: its processes
 * SIGSTOPped (a private server, test/helpers/privatePg.ts), or one COMMIT held back by a
 * proxy (test/helpers/pgProxy.ts). Readiness answers within its timeout, appends and
 * requests give up within theirs, and nothing is lost or written twice once it answers.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import { AccordServer } from '../server/AccordServer.js'
import { openPool } from '../server/pg/openPool.js'
import type { PersistEntry } from '../server/store/DocStore.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { withPgProxy } from './helpers/pgProxy.js'
import { recordRow } from './helpers/recordRows.js'
import { type PrivatePg, skipPrivatePg, startPrivatePg } from './helpers/privatePg.js'
import { loginAs, provider, seedWorkspace, synced, tempDir, until } from './helpers/server.js'

/** Short enough for a test; the defaults (server/backend.ts, PG_TIMEOUTS) keep the same order. */
const TIMEOUTS = { pingMs: 1000, statementMs: 2000, queryMs: 2500, idleInTransactionMs: 2000 }

describe.skipIf(skipPrivatePg)('PostgreSQL that hangs under a running server', () => {
  let pg: PrivatePg | undefined
  let server: AccordServer | undefined
  let url: string
  beforeAll(async () => {
    pg = await startPrivatePg()
    server = await AccordServer.open({
      databaseUrl: pg.url,
      pgTimeouts: TIMEOUTS,
      port: 0,
      clientDir: join(tempDir(), 'no-client'),
      registry: { unloadGraceMs: 100 },
    })
    url = await server.start()
  }, 120_000)
  afterAll(async () => {
    // Answering again (a failed test may have left it frozen), so the server closes as it would.
    pg?.thaw()
    await server?.close()
    pg?.destroy()
  }, 60_000)

  /** `/readyz`'s status and how long it took. */
  const probe = async () => {
    const started = performance.now()
    const { status } = await fetch(`${url}/readyz`)
    return { status, ms: performance.now() - started }
  }

  it('[PGH1] /readyz answers 503 within its timeout while PostgreSQL hangs, probe after probe, and 200 once it answers again', async () => {
    expect((await probe()).status).toBe(200)
    pg!.freeze()
    try {
      // One at a time, then several at once (more than a hung pool could hand out).
      const probes = [await probe(), await probe(), ...(await Promise.all(Array.from({ length: 12 }, probe)))]
      for (const { status, ms } of probes) {
        expect(status).toBe(503)
        expect(ms).toBeLessThan(TIMEOUTS.pingMs + 1000)
      }
    } finally {
      pg!.thaw()
    }
    await until(async () => (await probe()).status === 200, '/readyz ready again', 15_000)
  }, 60_000)

  it('[PGH2] typing while it hangs: nothing typed is broadcast, the sockets close with 1011 once the append gives up, REST answers 503 in time; once it answers, every edit is stored once', async () => {
    const s = server!
    const wsUrl = url.replace(/^http/, 'ws')
    const { member, member2 } = await loginAs(url, await seedWorkspace(s), ['member', 'member2'])
    const created = await member.request('POST', '/api/records/deals', { title: 'Typed while it hangs' })
    expect(created.status).toBe(201)
    const docName = `acme/deals/${created.body.id}`
    const clients = [provider(wsUrl, docName, member.token), provider(wsUrl, docName, member2.token)]
    const closes = clients.map(() => [] as number[])
    clients.forEach((p, i) => p.on('connection-close', (event: CloseEvent | null) => event && closes[i]!.push(event.code)))
    await Promise.all(clients.map(synced))
    notesOf(clients[0]!.doc).insert(0, '<before>')
    await until(() => notesOf(clients[1]!.doc).toString() === '<before>', 'the other client sees what was typed before')

    pg!.freeze()
    const frozenAt = performance.now()
    let thawed = false
    try {
      notesOf(clients[0]!.doc).insert(notesOf(clients[0]!.doc).length, '<while>')
      const read = await member.request('GET', `/api/records/deals/${created.body.id}`)
      expect(read).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } })
      // The append gives up once its statement timed out.
      await until(() => closes[0]!.includes(1011), 'the typing client closed with 1011', 20_000)
      expect(performance.now() - frozenAt).toBeLessThan(TIMEOUTS.queryMs + 3000)
      expect(notesOf(clients[1]!.doc).toString()).toBe('<before>')
      pg!.thaw()
      thawed = true
    } finally {
      if (!thawed) pg!.thaw()
    }

    await until(() => clients.every((p) => notesOf(p.doc).toString() === '<before><while>'), 'both clients hold every edit', 30_000)
    await until(async () => (await probe()).status === 200, '/readyz ready again', 15_000)
    await s.registry.flushed()
    const pool = await openPool(pg!.url, { max: 1 })
    try {
      const stored = new Y.Doc()
      for (const update of (await new PgDocStore(pool).load(docName)).updates) Y.applyUpdate(stored, update)
      expect(notesOf(stored).toString()).toBe('<before><while>')
    } finally {
      await pool.end()
    }
    expect((await member.request('GET', `/api/records/deals/${created.body.id}`)).body.notes).toBe('<before><while>')
    for (const p of clients) p.destroy()
  }, 120_000)
})

describe.skipIf(skipPg)('PgDocStore when a COMMIT is not answered in time', () => {
  const database = useMigratedDatabase()

  /** Append `tag` of one record: its update, a history entry, a projection row counting appends. */
  const recordEdit = (tag: number): PersistEntry[] => [
    {
      docName: 'acme/deals/d1',
      updates: [{ update: new Uint8Array([tag]), author: `u${tag}`, changed: ['title'], at: tag }],
      projection: recordRow('d1', tag),
    },
  ]

  it('[PGH3] a COMMIT not answered within the query timeout: the append gives up at once, not knowing; the next load of its document waits for that COMMIT and finds it, written once', async () => {
    await withPgProxy(
      database.url,
      async (proxy) => {
        const store = new PgDocStore(proxy.pool)
        await store.append(recordEdit(1))
        proxy.lose = 'commit-stall'
        // Held 1.5 s: past the 1 s the append waits, and less than 1 s longer, which the load then waits.
        proxy.lateMs = 1500
        const started = performance.now()
        await expect(store.append(recordEdit(2))).rejects.toThrow('Query read timeout')
        // Given up after the query timeout, before the COMMIT landed, without trying again against a server that does not answer.
        expect(performance.now() - started).toBeLessThan(1450)
        expect((await database.pool.query('SELECT count(*)::int AS n FROM doc_updates')).rows).toEqual([{ n: 1 }])
        expect(proxy.lost).toBe(1)
        // The held COMMIT lands after the rejection: a load that did not wait for it would miss it.
        const loaded = await store.load('acme/deals/d1')
        expect(performance.now() - started).toBeGreaterThanOrEqual(1450)
        expect(loaded.updates.map((u) => [...u])).toEqual([[1], [2]])
        await store.append(recordEdit(3))
      },
      { queryTimeoutMs: 1000 },
    )
    const rows = async (sql: string) => (await database.pool.query(sql)).rows
    expect(await rows('SELECT user_id FROM history ORDER BY seq')).toEqual([{ user_id: 'u1' }, { user_id: 'u2' }, { user_id: 'u3' }])
    expect(await rows("SELECT version FROM records WHERE id = 'd1'")).toEqual([{ version: 3 }])
  })
})
