/**
 * Crashes and restarts of members while clients type (docs/cluster.md, "Tests"): three members
 * as real `accord serve` processes on one fresh PostgreSQL database and the shared Redis,
 * clients on each behind a pretend load balancer (test/helpers/clusterProcesses.ts).
 *
 * - The owner crashes at its n-th commit (the test-only ACCORD_TEST_CRASH,
 *   server/cluster/testCrash.ts): right after the commit and before its broadcast, or inside
 *   the transaction before the commit. Nothing typed is lost or doubled, every client ends with
 *   exactly what PostgreSQL's log replays to.
 * - A rolling restart: each member in turn is stopped with SIGTERM and started again while
 *   clients type; nothing typed is lost.
 */
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { killHard } from './helpers/child.js'
import { type ProcessMember, typing, useClusterProcesses } from './helpers/clusterProcesses.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis } from './helpers/redis.js'
import { provider, synced, until } from './helpers/server.js'

const LEASE_MS = 1500

describe.skipIf(skipPg || skipRedis)('cluster members crashing or restarting while clients type', () => {
  const cluster = useClusterProcesses(LEASE_MS)

  /** A deal created through `on` (which then owns it) and `api`. */
  async function dealOn(name: string, on: ProcessMember) {
    const api = await cluster.workspace(name, on)
    const created = await api.request('POST', '/api/records/deals', { title: 'Crash', amount: 1 })
    expect(created.status).toBe(201)
    return { api, docName: `${name}/deals/${created.body.id as string}` }
  }

  const exitOf = (m: ProcessMember) =>
    new Promise<NodeJS.Signals | number | null>((resolve) => {
      const { child } = m.child
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode)
      else child.once('exit', (code, signal) => resolve(signal ?? code))
    })

  for (const [id, point, typeAfter] of [
    ['CR1', 'after-commit', true],
    ['CR2', 'before-commit', true],
    ['CR3', 'after-commit', false],
  ] as const) {
    const when = point === 'after-commit' ? 'after a commit, before its broadcast' : 'inside a commit'
    it(`[${id}] the owner crashes ${when}${typeAfter ? '' : ', typing stops'}: nothing lost, nothing doubled, every client converges on the log`, async () => {
      const name = id.toLowerCase()
      // The owner crashes at its 40th commit: a second or so into the typing.
      const m1 = await cluster.member(`${name}-1`, { ACCORD_TEST_CRASH: `${point}:40` })
      const [m2, m3] = await Promise.all([cluster.member(`${name}-2`), cluster.member(`${name}-3`)])
      const group = [m1, m2, m3]
      const { api, docName } = await dealOn(name, m1)
      const first = cluster.client(m1, docName, api.token, group)
      await synced(first)
      const owner = await cluster.ownerOf(docName)
      const clients = [
        first,
        cluster.client(m1, docName, api.token, group),
        cluster.client(m2, docName, api.token, group),
        cluster.client(m3, docName, api.token, group),
      ]
      await Promise.all(clients.map(synced))
      const typist = typing(clients)
      try {
        expect(await exitOf(m1)).toBe('SIGKILL')
        // Without typing after the crash, the relays learn of what was committed and never
        // broadcast from the new owner's notice of the log's head at its load.
        if (!typeAfter) typist.stop()
        await until(async () => ![null, owner].includes(await cluster.ownerOf(docName)), 'another member owns the deal', 30_000)
        // Typing goes on a while on the new owner.
        const rounds = typist.rounds
        if (typeAfter) await until(() => typist.rounds > rounds + 25, 'typing after the takeover')
      } finally {
        typist.stop()
      }
      const text = await cluster.converged(docName, typist.typed, clients)
      expect(typist.typed.length).toBeGreaterThan(typeAfter ? 100 : 50)
      expect(text.match(/<\d+:\d+>/g)).toHaveLength(typist.typed.length)
    })
  }

  it("[RK1] a relay killed: its clients reconnect to other members and go on typing, a client that does not come back leaves everyone's presence", async () => {
    const [m1, m2, m3] = await Promise.all(['rk-1', 'rk-2', 'rk-3'].map((node) => cluster.member(node)))
    const group = [m1!, m2!, m3!]
    const { api, docName } = await dealOn('rk', m1!)
    const watcher = cluster.client(m1!, docName, api.token, group)
    await synced(watcher)
    // On the relay m2: one client behind the load balancer, one that is gone with its member.
    const moving = cluster.client(m2!, docName, api.token, group)
    const gone = provider(m2!.child.wsUrl, docName, api.token)
    const writers = [watcher, moving, cluster.client(m3!, docName, api.token, group)]
    await Promise.all([...writers, gone].map(synced))
    for (const p of [...writers, gone]) p.awareness.setLocalStateField('cursor', 1)
    const present = (p: WebsocketProvider) => watcher.awareness.getStates().get(p.awareness.clientID)?.cursor === 1
    await until(() => present(gone) && present(moving), "the relay's clients present on the owner's client")
    const typist = typing(writers)
    try {
      const rounds = typist.rounds
      await until(() => typist.rounds > rounds + 20, 'typing before the kill')
      m2!.live = false
      await killHard(m2!.child)
      gone.destroy()
      const after = typist.rounds
      await until(() => typist.rounds > after + 40, 'typing after the kill')
    } finally {
      typist.stop()
    }
    await cluster.converged(docName, typist.typed, writers)
    // The awareness timeout is 30 s (y-protocols): the gone client's presence ends within it
    // (plus a check interval). The moved client's may go with its dead relay's peers (its id
    // was theirs until then), and is back at its next renewal (every 15 s).
    await until(() => !present(gone), "the gone client's presence removed", 40_000)
    await until(() => present(moving), "the moved client's presence", 20_000)
  })

  it('[RR1] a rolling restart: each of three members stopped with SIGTERM and started again while clients type, nothing lost', async () => {
    const group = await Promise.all(['rr-1', 'rr-2', 'rr-3'].map((node) => cluster.member(node)))
    const deals = await Promise.all(group.map((m, i) => dealOn(`rr${i}`, m)))
    // Each member owns one deal; every deal has a client on every member.
    const clients = deals.flatMap(({ api, docName }) => group.map((m) => cluster.client(m, docName, api.token, group)))
    await Promise.all(clients.map(synced))
    const typist = typing(clients, 30)
    try {
      for (const m of group) {
        const rounds = typist.rounds
        await until(() => typist.rounds > rounds + 15, 'typing before the restart')
        m.live = false
        const exited = exitOf(m)
        m.child.child.kill('SIGTERM')
        expect(await exited).toBe(0)
        await cluster.restart(m)
      }
      const rounds = typist.rounds
      await until(() => typist.rounds > rounds + 15, 'typing after the last restart')
    } finally {
      typist.stop()
    }
    for (const [k, { docName }] of deals.entries()) {
      const mine = clients.slice(k * 3, k * 3 + 3)
      const markers = typist.typed.filter((m) => Math.floor(Number(/<(\d+):/.exec(m)![1]) / 3) === k)
      await cluster.converged(docName, markers, mine)
    }
  })
})
