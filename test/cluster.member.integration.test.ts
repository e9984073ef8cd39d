/**
 * Accord servers as cluster members (docs/cluster.md): several real servers in this process on
 * ephemeral ports, one fresh PostgreSQL database, the shared Redis. Ownership is claimed before
 * a document loads; every commit is fenced in PostgreSQL; a member that lost a document closes
 * its sockets with 1011 and never writes it.
 */
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { notesOf } from '../shared/docLayout.js'
import * as Y from 'yjs'
import { Bus } from '../server/cluster/Bus.js'
import { decodeBroadcast } from '../server/cluster/busMessages.js'
import { RelayStream } from '../server/cluster/RelayStream.js'
import { NotOwnerError } from '../server/sync/DocRegistry.js'
import { type Lease, SHORT, clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { skipRedis, REDIS_URL } from './helpers/redis.js'
import { type Api, type TestServer, login, provider, sample, synced, until } from './helpers/server.js'
/** A lease that is not renewed during a test: its expiry is set in PostgreSQL by the test. */
const LONG = { leaseMs: 60_000, renewEveryMs: 30_000, safetyMarginMs: 1000 }

describe.skipIf(skipPg || skipRedis)('Accord servers as cluster members', () => {
  const cluster = clusterServers()
  const member = (node: string, lease?: Lease) => cluster.member(node, lease)

  async function newDeal(api: Api): Promise<string> {
    const res = await api.request('POST', '/api/records/deals', { title: 'Deal', amount: 1, stage: 'lead' })
    expect(res.status).toBe(201)
    return `acme/deals/${res.body.id as string}`
  }

  /** A provider that is destroyed at its first close, resolving `closed` with the code. */
  function watched(t: TestServer, docName: string, token: string): { p: WebsocketProvider; closed: Promise<number> } {
    const p = provider(t.wsUrl, docName, token)
    cluster.track(p)
    const closed = new Promise<number>((resolve) => {
      p.on('connection-close', (event: CloseEvent | null) => {
        p.shouldConnect = false
        resolve(event?.code ?? 0)
      })
    })
    return { p, closed }
  }

  /** Members `a` and `b`, and a new deal owned by `a` (created through it). */
  async function dealOwnedByA(aNode: string, aLease: Lease, bNode: string) {
    const a = await member(aNode, aLease)
    const b = await member(bNode, SHORT)
    const owner = await login(a.url, cluster.users.owner.email, cluster.users.owner.password)
    return { a, b, owner, docName: await newDeal(owner) }
  }

  const lastSeq = async (doc: string) =>
    Number((await cluster.pool.query('SELECT last_seq FROM docs WHERE doc = $1', [doc])).rows[0]?.last_seq ?? 0)
  const ownerRow = async (doc: string) => (await cluster.pool.query('SELECT owner, epoch FROM doc_owners WHERE doc = $1', [doc])).rows[0]
  /** Ends a member's lease by PostgreSQL's clock, as if it had been paused past it. */
  const expireLease = (t: TestServer) =>
    cluster.pool.query('UPDATE cluster_members SET lease_until = 0 WHERE id = $1', [t.server.cluster!.id])

  it('[CM1] a member is ready while its lease is live, and its metrics carry its node label', async () => {
    const a = await member('node-a', SHORT)
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`${a.url}/metrics`)).text()
    expect(sample(metrics, 'accord_connections', { node: 'node-a' })).toBe(0)
    expect(metrics).toMatch(/accord_loaded_documents\{node="node-a"\}/)
    expect(sample(metrics, 'accord_cluster_lease_live', { node: 'node-a' })).toBe(1)
    // No live lease (stopped here; a member that cannot renew gets there at its deadline).
    await a.server.cluster!.membership.stop()
    expect((await fetch(`${a.url}/readyz`)).status).toBe(503)
    const after = await (await fetch(`${a.url}/metrics`)).text()
    expect(sample(after, 'accord_cluster_lease_live', { node: 'node-a' })).toBe(0)
  })

  it('[CM2] three members opening a cold document at once: exactly one loads it, the others are told who owns it', async () => {
    const members = await Promise.all(['a', 'b', 'c'].map((node) => member(node, SHORT)))
    // Documents nobody ever loaded: no row in doc_owners, so each claim is the cold insert.
    for (let round = 0; round < 5; round++) {
      const docName = `acme/deals/race${round}x${Date.now()}`
      const outcomes = await Promise.allSettled(members.map((t) => t.server.registry.open(docName)))
      const loaded = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [members[i]!] : []))
      expect(loaded).toHaveLength(1)
      const winner = loaded[0]!.server.cluster!.id
      for (const o of outcomes) {
        if (o.status === 'fulfilled') continue
        expect(o.reason).toBeInstanceOf(NotOwnerError)
        expect((o.reason as NotOwnerError).refusal).toEqual({ reason: 'held', owner: winner })
      }
      expect(await ownerRow(docName)).toEqual({ owner: winner, epoch: 1 })
      expect(members.filter((t) => t.server.registry.get(docName))).toHaveLength(1)
    }
  })

  it('[CM3] a stale owner (its lease expired, another member claimed) fails its fenced commit, closes with 1011 and never writes', async () => {
    const { a, b, owner, docName } = await dealOwnedByA('stale', LONG, 'fresh')
    const { p, closed } = watched(a, docName, owner.token)
    await synced(p)
    notesOf(p.doc).insert(0, 'before ')
    await until(async () => (await lastSeq(docName)) >= 2, 'the first edit committed by the owner')
    await expireLease(a)
    // Still sure of itself (its own deadline is far), the old owner keeps accepting edits...
    expect(a.server.cluster!.canWrite()).toBe(true)
    const room = await b.server.registry.open(docName)
    expect(await ownerRow(docName)).toEqual({ owner: b.server.cluster!.id, epoch: 2 })
    const committed = await lastSeq(docName)
    notesOf(p.doc).insert(0, 'STALE ')
    // ...but its commit is refused in PostgreSQL: the document is dropped, its socket closed.
    expect(await closed).toBe(1011)
    expect(a.server.registry.get(docName)).toBeUndefined()
    expect(await lastSeq(docName)).toBe(committed)
    const stored = (await cluster.pool.query<{ n: number }>('SELECT count(*)::integer AS n FROM doc_updates WHERE doc = $1', [docName]))
      .rows[0]!.n
    expect(stored).toBeLessThanOrEqual(committed)
    expect(notesOf(room.doc).toString()).toBe('before ')
    // The new owner goes on writing.
    const again = watched(b, docName, owner.token)
    await synced(again.p)
    notesOf(again.p.doc).insert(0, 'after ')
    await until(async () => (await lastSeq(docName)) > committed, 'the new owner commits')
    expect(notesOf(room.doc).toString()).toBe('after before ')
  })

  it('[CM4] a member told at a renewal that it lost a document drops it and closes its sockets with 1011, without an edit', async () => {
    const { a, b, owner, docName } = await dealOwnedByA('loser', LONG, 'taker')
    const { p, closed } = watched(a, docName, owner.token)
    await synced(p)
    await expireLease(a)
    await b.server.registry.open(docName)
    // The renewal revives the member and reports what was claimed meanwhile.
    expect(await a.server.cluster!.membership.renew()).toBe(true)
    expect(await closed).toBe(1011)
    expect(a.server.registry.get(docName)).toBeUndefined()
  })

  it('[CM5] a member with a socket for a document another member owns does not load it: it relays, the socket stays open', async () => {
    const { a, b, owner, docName } = await dealOwnedByA('owner-a', SHORT, 'other-b')
    // Held open on a, so that it stays a's (it would unload after its grace period).
    const onA = watched(a, docName, owner.token)
    await synced(onA.p)
    const onB = watched(b, docName, owner.token)
    let closedWith: number | null = null
    void onB.closed.then((code) => {
      closedWith = code
    })
    await synced(onB.p)
    expect(notesOf(onB.p.doc).toString()).toBe(notesOf(onA.p.doc).toString())
    expect(b.server.registry.get(docName)).toBeUndefined()
    expect(b.server.cluster!.relays!.size).toBe(1)
    expect(await ownerRow(docName)).toEqual({ owner: a.server.cluster!.id, epoch: 1 })
    expect(closedWith).toBeNull()
  })

  it('[CM6] the owner publishes each commit to the relays channel with its log numbers: a relay stream rebuilds the document from them', async () => {
    const { a, owner, docName } = await dealOwnedByA('publisher', SHORT, 'idle')
    const relayDoc = new Y.Doc()
    const seqs: number[] = []
    const stream = new RelayStream(cluster.pool, docName, {
      deliver: (update, seq) => {
        Y.applyUpdate(relayDoc, update)
        seqs.push(seq)
      },
    })
    const bus = await Bus.open({ url: REDIS_URL, member: 'test-relay', prefix: cluster.prefix })
    try {
      await bus.subscribe(docName, 'relays', (payload) => stream.receive(decodeBroadcast(payload)))
      await stream.catchUp()
      const { p } = watched(a, docName, owner.token)
      await synced(p)
      for (let i = 0; i < 20; i++) notesOf(p.doc).insert(notesOf(p.doc).length, `<${i}>`)
      const head = async () => lastSeq(docName)
      await until(
        async () => stream.position === (await head()) && notesOf(relayDoc).toString() === notesOf(p.doc).toString(),
        'the relay caught up',
      )
      // Numbers ascending without a hole, and mostly from the bus (the first read may bring the start).
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i))
      expect(stream.stats.fromBus).toBeGreaterThan(0)
      expect(stream.stats.duplicates).toBe(0)
    } finally {
      stream.close()
      await bus.close()
    }
  })
})
