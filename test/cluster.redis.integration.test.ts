/**
 * Redis faults with clients (docs/cluster.md, "Messages between members"): three members in
 * this process on one fresh PostgreSQL database and a private `redis-server`, clients on each
 * typing into one record owned by one of them. Messages lost or repeated on their way to the
 * members (a proxy, test/helpers/redisProxy.ts), or Redis killed and started again: gaps are
 * repaired from PostgreSQL's log, every client converges on what the log replays to, and every
 * marker typed is in PostgreSQL exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { notesOf } from '../shared/docLayout.js'
import { typing } from './helpers/clusterProcesses.js'
import { SHORT, clusterServers } from './helpers/clusterServers.js'
import { skipPg } from './helpers/pg.js'
import { type PrivateRedis, skipPrivateRedis, skipRedis, startPrivateRedis } from './helpers/redis.js'
import { type RedisProxy, startRedisProxy } from './helpers/redisProxy.js'
import { login, provider, synced, until } from './helpers/server.js'

describe.skipIf(skipPg || skipRedis || skipPrivateRedis)('Redis losing, repeating or dropping messages while clients type', () => {
  const cluster = clusterServers()
  let redis: PrivateRedis | undefined
  let proxy: RedisProxy | undefined
  afterEach(async () => {
    await proxy?.close()
    await redis?.kill()
  })

  /** Members a (the owner of a new deal), b and c on `redisUrl`, a client on each, synced. */
  async function typingCluster(redisUrl: string) {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((node) => cluster.member(node, SHORT, redisUrl)))
    const owner = await login(a!.url, cluster.users.owner.email, cluster.users.owner.password)
    const res = await owner.request('POST', '/api/records/deals', { title: 'Deal', amount: 1, stage: 'lead' })
    expect(res.status).toBe(201)
    const docName = `acme/deals/${res.body.id as string}`
    const connect = (on: typeof a) => cluster.track(provider(on!.wsUrl, docName, owner.token))
    const onA = connect(a)
    await synced(onA)
    const clients = [onA, connect(b), connect(c), connect(b)]
    await Promise.all(clients.map(synced))
    expect(b!.server.registry.get(docName)).toBeUndefined()
    return { a: a!, b: b!, c: c!, docName, clients }
  }

  async function converged(docName: string, markers: readonly string[], clients: readonly WebsocketProvider[]): Promise<void> {
    await until(async () => {
      const text = notesOf(await cluster.stored(docName)).toString()
      return markers.every((m) => text.split(m).length === 2)
    }, 'every marker in PostgreSQL exactly once')
    const replay = await cluster.stored(docName)
    const text = notesOf(replay).toString()
    const vector = Buffer.from(Y.encodeStateVector(replay)).toString('hex')
    const behind = () =>
      clients.flatMap((p, i) =>
        notesOf(p.doc).toString() === text && Buffer.from(Y.encodeStateVector(p.doc)).toString('hex') === vector ? [] : [i],
      )
    // A hang guard, not a speed check: under a full test run's load, a relay's repair waits for
    // Redis reconnects with backoff and the owner's later head notices (CI once took over 20 s).
    await until(() => behind().length === 0, 'every client holds what the log replays to', 60_000).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message} (clients behind: ${behind().join(', ')}; connected: ${clients.map((p) => p.wsconnected).join(', ')})`,
      )
    })
  }

  it('[RF1] broadcasts lost and every kind of message repeated on the way to the members: every client converges', async () => {
    redis = await startPrivateRedis()
    proxy = await startRedisProxy(redis.url)
    let n = 0
    // Every fifth broadcast lost; every seventh message of any kind delivered twice.
    proxy.decide = (channel) => (++n % 5 === 0 && channel.includes(':relays:') ? 'drop' : n % 7 === 0 ? 'twice' : 'pass')
    const { docName, clients, b } = await typingCluster(proxy.url)
    const typist = typing(clients, 15)
    await until(() => typist.rounds > 60, 'typing')
    typist.stop()
    await converged(docName, typist.typed, clients)
    expect(proxy.counts.dropped).toBeGreaterThan(5)
    expect(proxy.counts.repeated).toBeGreaterThan(5)
    // Only the owner loaded the document: the relays repaired their gaps from the log.
    expect(b.server.registry.get(docName)).toBeUndefined()
  }, 120_000)

  // Once failed in two of four full runs: the third member's one client, handed back after a
  // publish reached no one and relayed again at once, lost its new subscription to the old
  // one's UNSUBSCRIBE (test/cluster.bus.test.ts, CB9).
  it('[RF2] Redis killed while clients type and started again: gaps read from the log, every client converges', async () => {
    redis = await startPrivateRedis()
    const { docName, clients } = await typingCluster(redis.url)
    const typist = typing(clients, 15)
    try {
      await until(() => typist.rounds > 20, 'typing before the kill')
      await redis.kill()
      const rounds = typist.rounds
      await until(() => typist.rounds > rounds + 20, 'typing while Redis is down')
      await redis.start()
      const again = typist.rounds
      await until(() => typist.rounds > again + 40, 'typing once Redis is back')
    } finally {
      typist.stop()
    }
    await converged(docName, typist.typed, clients)
  }, 120_000)
})
