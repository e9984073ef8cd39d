/**
 * Failover with clients (docs/cluster.md, "Failures"): three members as real `accord serve`
 * processes on one fresh PostgreSQL database and the shared Redis, with short leases
 * (`ACCORD_CLUSTER_LEASE_MS`). The owner of a record is killed with SIGKILL while clients on
 * it and on the other members type; a client whose member died reconnects to another one, as
 * behind a load balancer. Another member must own the record within a few seconds, and every
 * marker typed (so every one any client saw) must be in PostgreSQL exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import type { Pool } from '../server/pg/openPool.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { type ChildServer, databaseArgs, killHard, runCli, spawnServer } from './helpers/child.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { typing } from './helpers/clusterProcesses.js'
import { REDIS_URL, skipRedis } from './helpers/redis.js'
import { login, provider, synced, until } from './helpers/server.js'

const LEASE_MS = 1500

describe.skipIf(skipPg || skipRedis)('failover: kill -9 of the owner while clients type', () => {
  const database = useMigratedDatabase()
  const children: ChildServer[] = []
  const providers: WebsocketProvider[] = []
  afterAll(async () => {
    for (const p of providers) p.destroy()
    for (const c of children) await killHard(c)
  })

  const member = async (node: string, leaseMs = LEASE_MS) => {
    const env = { ACCORD_REDIS_URL: REDIS_URL, ACCORD_NODE_ID: node, ACCORD_CLUSTER_LEASE_MS: String(leaseMs) }
    const child = await spawnServer(database.url, 0, env)
    children.push(child)
    return child
  }

  async function stored(pool: Pool, docName: string): Promise<string> {
    const doc = new Y.Doc()
    for (const update of (await new PgDocStore(pool).load(docName)).updates) Y.applyUpdate(doc, update)
    return notesOf(doc).toString()
  }
  const committedOnce = (pool: Pool, docName: string, markers: string[]) =>
    until(async () => {
      const text = await stored(pool, docName)
      return markers.every((m) => text.split(m).length === 2)
    }, 'every marker typed committed exactly once')
  const ownerOf = async (pool: Pool, doc: string): Promise<string | null> =>
    (await pool.query('SELECT owner FROM doc_owners WHERE doc = $1', [doc])).rows[0]?.owner ?? null

  it('[FO1] another member takes over within a few seconds, clients reconnect, nothing any client saw is lost', async () => {
    const db = database.url
    expect(runCli(['workspace', 'add', 'fo', ...databaseArgs(db)]).status).toBe(0)
    const user = ['--workspace', 'fo', '--email', 'w@fo.test', '--password', 'password1', '--role', 'member']
    expect(runCli(['user', 'add', ...user, ...databaseArgs(db)]).status).toBe(0)
    const [m1, m2, m3] = await Promise.all(['m1', 'm2', 'm3'].map((node) => member(node)))
    const api = await login(m1!.url, 'w@fo.test', 'password1')
    const created = await api.request('POST', '/api/records/deals', { title: 'Failover', amount: 1 })
    expect(created.status).toBe(201)
    const docName = `fo/deals/${created.body.id}`
    const pool = database.pool

    const connect = (on: ChildServer, fallback: ChildServer) => {
      const p = provider(on.wsUrl, docName, api.token)
      providers.push(p)
      // A load balancer sends a client whose member is gone to another one.
      p.on('connection-close', () => {
        if (on.child.signalCode !== null) p.serverUrl = `${fallback.wsUrl}/sync`
      })
      return p
    }
    const onOwner = connect(m1!, m2!)
    await synced(onOwner)
    const owner = await ownerOf(pool, docName)
    expect(owner).not.toBeNull()
    const writers = [onOwner, connect(m2!, m3!), connect(m3!, m2!)]
    const witnesses = [connect(m1!, m3!), connect(m2!, m3!)]
    await Promise.all([...writers, ...witnesses].map(synced))

    let seen: string[] = []
    const received = witnesses.map(() => '')
    witnesses.forEach((w, k) =>
      w.doc.on('update', (_u: Uint8Array, origin: unknown) => {
        if (origin === w) received[k] = notesOf(w.doc).toString()
      }),
    )
    const typist = typing(writers, 10)
    const { typed } = typist
    try {
      await until(() => received.every((text) => text.split('<').length > 60), 'the witnesses received a stream of edits')
      const killedAt = Date.now()
      await killHard(m1!)
      seen = [...new Set(received.flatMap((text) => text.match(/<\d+:\d+>/g) ?? []))]
      await until(async () => {
        const now = await ownerOf(pool, docName)
        return now !== null && now !== owner
      }, 'another member owns the record')
      const takeover = Date.now() - killedAt
      // An edit typed after the takeover is committed.
      const after = `<${0}:${typist.rounds + 1}>`
      await until(async () => (await stored(pool, docName)).includes(after), 'an edit after the takeover committed')
      const firstEdit = Date.now() - killedAt
      console.log(
        `failover: lease ${LEASE_MS} ms; another member owned the record ${takeover} ms after kill -9, an edit typed after committed at ${firstEdit} ms`,
      )
      expect(takeover).toBeLessThan(LEASE_MS + 3000)
    } finally {
      typist.stop()
    }
    await committedOnce(pool, docName, typed)
    expect(seen.length).toBeGreaterThanOrEqual(60)
    const text = await stored(pool, docName)
    expect(seen.filter((m) => !text.includes(m))).toEqual([])
    await until(() => writers.every((w) => notesOf(w.doc).toString() === text), 'every writer converged on PostgreSQL')
  })

  it('[FO2] SIGTERM of the owner while clients type: another member owns the record well within a lease, nothing typed is lost', async () => {
    const leaseMs = 5000
    const [m1, m2] = await Promise.all(['t1', 't2'].map((node) => member(node, leaseMs)))
    const api = await login(m1!.url, 'w@fo.test', 'password1')
    const created = await api.request('POST', '/api/records/deals', { title: 'Handover', amount: 1 })
    const docName = `fo/deals/${created.body.id}`
    const pool = database.pool
    const onOwner = provider(m1!.wsUrl, docName, api.token)
    const onRelay = provider(m2!.wsUrl, docName, api.token)
    providers.push(onOwner, onRelay)
    await synced(onOwner)
    await synced(onRelay)
    const owner = await ownerOf(pool, docName)
    const codes: number[] = []
    onOwner.on('connection-close', (event: CloseEvent | null) => {
      if (event) codes.push(event.code)
      onOwner.serverUrl = `${m2!.wsUrl}/sync`
    })
    const typed: string[] = []
    let n = 0
    const timer = setInterval(() => {
      ;[onOwner, onRelay].forEach((w, i) => {
        typed.push(`<${i}:${n}>`)
        notesOf(w.doc).insert(notesOf(w.doc).length, `<${i}:${n}>`)
      })
      n++
    }, 10)
    try {
      await new Promise((resolve) => setTimeout(resolve, 300))
      const exited = new Promise<number | null>((resolve) => m1!.child.once('exit', (code) => resolve(code)))
      const termAt = Date.now()
      m1!.child.kill('SIGTERM')
      await until(async () => {
        const now = await ownerOf(pool, docName)
        return now !== null && now !== owner
      }, 'another member owns the record')
      const takeover = Date.now() - termAt
      expect(await exited).toBe(0)
      console.log(`handover: lease ${leaseMs} ms; another member owned the record ${takeover} ms after SIGTERM`)
      expect(takeover).toBeLessThan(leaseMs / 2)
      expect(codes[0]).toBe(1001)
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      clearInterval(timer)
    }
    await committedOnce(pool, docName, typed)
  })
})
