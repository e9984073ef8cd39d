/**
 * A relay's stream of a document's committed updates (server/cluster/RelayStream.ts): the
 * owner's broadcasts over a real Redis, gaps filled from a real PostgreSQL log written by the
 * document store (PgDocStore), on a fresh database. The test plays the owner: it commits Yjs
 * updates through the store, then publishes (or drops, repeats, reorders) their broadcasts.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Bus } from '../server/cluster/Bus.js'
import { type Broadcast, broadcastOf, decodeBroadcast, encodeBusMessage, referenceOf } from '../server/cluster/busMessages.js'
import { type DeliverySource, RelayStream } from '../server/cluster/RelayStream.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { PgDocStore } from '../server/store/PgDocStore.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { REDIS_URL, skipPrivateRedis, skipRedis, startPrivateRedis, uniquePrefix } from './helpers/redis.js'
import { until } from './helpers/server.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function openBus(prefix: string, url = REDIS_URL, onResubscribed?: () => void): Promise<Bus> {
  const bus = await Bus.open({ url, member: randomUUID(), prefix, maxBackoffMs: 100, onResubscribed })
  cleanups.push(() => bus.close())
  return bus
}

/** The owner's side: a Yjs document whose edits are committed through the store, then broadcast. */
class Owner {
  readonly ydoc = new Y.Doc()
  readonly #pending: Uint8Array[] = []
  #edits = 0

  constructor(
    readonly pool: Pool,
    readonly store: PgDocStore,
    readonly bus: Bus,
    readonly doc: string,
  ) {
    this.ydoc.on('update', (update: Uint8Array) => this.#pending.push(update))
  }

  /**
   * Makes `count` edits and commits them in one append (with a snapshot of the whole state
   * when `compact`: the log up to them is deleted); returns their broadcast.
   */
  async commit(count = 1, options: { compact?: boolean; text?: string; inlineMaxBytes?: number } = {}): Promise<Broadcast> {
    for (let i = 0; i < count; i++) {
      const n = ++this.#edits
      if (options.text) this.ydoc.getText('t').insert(0, options.text)
      else this.ydoc.getMap('m').set(`k${n}`, n)
    }
    const updates = this.#pending.splice(0)
    expect(updates).toHaveLength(count)
    await this.store.append([
      {
        docName: this.doc,
        updates: updates.map((update) => ({ update, author: null, changed: [], at: Date.now() })),
        ...(options.compact ? { snapshot: Y.encodeStateAsUpdate(this.ydoc) } : {}),
      },
    ])
    const { rows } = await this.pool.query<{ last_seq: number }>('SELECT last_seq FROM docs WHERE doc = $1', [this.doc])
    return broadcastOf(rows[0]!.last_seq - count + 1, updates, options.inlineMaxBytes)
  }

  publish(broadcast: Broadcast): Promise<number> {
    return this.bus.publish(this.doc, 'relays', encodeBusMessage(broadcast))
  }
}

interface Relay {
  readonly ydoc: Y.Doc
  readonly stream: RelayStream
  readonly delivered: { seq: number; source: DeliverySource }[]
  readonly errors: Error[]
}

/** A relay's side: subscribed to the document's broadcasts, then caught up from the log. */
async function startRelay(bus: Bus, pool: Pool, doc: string): Promise<Relay> {
  const ydoc = new Y.Doc()
  const delivered: Relay['delivered'] = []
  const errors: Error[] = []
  const stream = new RelayStream(pool, doc, {
    deliver: (update, seq, source) => {
      Y.applyUpdate(ydoc, update)
      delivered.push({ seq, source })
    },
    onError: (error) => errors.push(error),
    retryMs: 20,
  })
  cleanups.push(() => stream.close())
  const handler = (payload: Buffer) => stream.receive(decodeBroadcast(payload))
  await bus.subscribe(doc, 'relays', handler)
  await stream.catchUp()
  return { ydoc, stream, delivered, errors }
}

const seqsOf = (relay: Relay) => relay.delivered.map((d) => d.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const sameState = (a: Y.Doc, b: Y.Doc) =>
  expect(Buffer.from(Y.encodeStateAsUpdate(a)).equals(Buffer.from(Y.encodeStateAsUpdate(b)))).toBe(true)

describe.skipIf(skipPg || skipRedis)('relay stream', () => {
  const database = useMigratedDatabase()

  async function setUp(doc = `acme/records/${randomUUID()}`) {
    const prefix = uniquePrefix()
    const store = new PgDocStore(database.pool)
    cleanups.push(() => store.close())
    const owner = new Owner(database.pool, store, await openBus(prefix), doc)
    const relayBus = await openBus(prefix)
    return { owner, relayBus, prefix, doc }
  }

  it('[RS1] broadcasts are delivered in log order, one update per number, without reading the log again', async () => {
    const { owner, relayBus, doc } = await setUp()
    const relay = await startRelay(relayBus, database.pool, doc)
    let last = 0
    for (let i = 0; i < 30; i++) {
      const broadcast = await owner.commit(1 + (i % 3))
      expect(broadcast.first).toBe(last + 1)
      last = broadcast.last
      expect(await owner.publish(broadcast)).toBe(1)
    }
    await until(() => relay.stream.position === last, 'all delivered')
    expect(seqsOf(relay)).toEqual(range(1, last))
    expect(relay.delivered.every((d) => d.source === 'bus')).toBe(true)
    expect(relay.stream.stats.reads).toBe(1) // the first catch-up only
    sameState(relay.ydoc, owner.ydoc)
    expect(relay.errors).toEqual([])
  })

  it('[RS2] repeated and overlapping broadcasts are dropped: each number delivered once', async () => {
    const { owner, relayBus, doc } = await setUp()
    const relay = await startRelay(relayBus, database.pool, doc)
    const sent: Broadcast[] = []
    for (let i = 0; i < 10; i++) {
      const broadcast = await owner.commit(3)
      sent.push(broadcast)
      // The first two of its three updates alone first, then all three, twice.
      await owner.publish(broadcastOf(broadcast.first, broadcast.updates!.slice(0, 2)))
      await owner.publish(broadcast)
      await owner.publish(broadcast)
    }
    for (const broadcast of sent) await owner.publish(broadcast)
    const last = sent.at(-1)!.last
    await until(() => relay.stream.stats.duplicates === 10 + 10, 'every repeat seen')
    expect(seqsOf(relay)).toEqual(range(1, last))
    expect(relay.delivered.every((d) => d.source === 'bus')).toBe(true)
    expect(relay.stream.stats.reads).toBe(1)
    sameState(relay.ydoc, owner.ydoc)
  })

  it('[RS3] a lost broadcast is read from the log as soon as a later one shows the gap; a lost last one, at the next head notice', async () => {
    const { owner, relayBus, doc } = await setUp()
    const relay = await startRelay(relayBus, database.pool, doc)
    const dropped = new Set([4, 7, 8, 11])
    for (let seq = 1; seq <= 11; seq++) {
      const broadcast = await owner.commit()
      expect(broadcast.first).toBe(seq)
      if (dropped.has(seq)) continue
      await owner.publish(broadcast)
      await until(() => relay.stream.position === seq, `delivered up to ${seq}`)
    }
    expect(relay.stream.position).toBe(10)
    // The owner announces its head (a by-reference broadcast of its last number).
    await owner.publish(referenceOf(11))
    await until(() => relay.stream.position === 11, 'the last one read')
    expect(relay.delivered).toEqual([
      ...[1, 2, 3].map((seq) => ({ seq, source: 'bus' })),
      // The read after 3 happens once 5 arrived, so the log has 5 as well: the broadcast of 5 is then a repeat.
      ...[4, 5].map((seq) => ({ seq, source: 'log' })),
      { seq: 6, source: 'bus' },
      ...[7, 8, 9].map((seq) => ({ seq, source: 'log' })),
      { seq: 10, source: 'bus' },
      { seq: 11, source: 'log' },
    ])
    sameState(relay.ydoc, owner.ydoc)
    expect(relay.errors).toEqual([])
  })

  it('[RS4] an update above the inline limit goes by reference, a message of a few bytes, and is read from the log', async () => {
    const { owner, relayBus, doc } = await setUp()
    const relay = await startRelay(relayBus, database.pool, doc)
    const large = await owner.commit(1, { text: 'x'.repeat(200_000), inlineMaxBytes: 64 * 1024 })
    expect(large.updates).toBeUndefined()
    expect(encodeBusMessage(large).length).toBeLessThan(10)
    await owner.publish(large)
    await until(() => relay.stream.position === 1, 'the large one read')
    const small = await owner.commit(1, { inlineMaxBytes: 64 * 1024 })
    expect(small.updates).toHaveLength(1)
    await owner.publish(small)
    await until(() => relay.stream.position === 2, 'both delivered')
    expect(relay.delivered).toEqual([
      { seq: 1, source: 'log' },
      { seq: 2, source: 'bus' },
    ])
    expect(relay.ydoc.getText('t').length).toBe(200_000)
    sameState(relay.ydoc, owner.ydoc)
  })

  it('[RS5] a compaction between the gap and its repair: the snapshot is delivered at its number, and the stream goes on from there', async () => {
    const { owner, relayBus, doc } = await setUp()
    // The relay reads through a pool of one connection, which the test holds to delay the repair.
    const relayPool = await openPool(database.url, { max: 1 })
    cleanups.push(() => relayPool.end())
    const relay = await startRelay(relayBus, relayPool, doc)
    for (let i = 0; i < 3; i++) await owner.publish(await owner.commit())
    await until(() => relay.stream.position === 3, 'delivered up to 3')

    const held = await relayPool.connect()
    await owner.commit() // 4: its broadcast is lost
    await owner.publish(await owner.commit()) // 5: shows the gap, the repair waits for the connection
    await until(() => relay.stream.stats.reads === 2, 'the repair started')
    // 6 compacts: the snapshot covers 1..6 and the log up to 6 is deleted.
    const compacted = await owner.commit(1, { compact: true })
    expect(compacted.first).toBe(6)
    const { rows } = await database.pool.query('SELECT seq FROM doc_updates WHERE doc = $1', [doc])
    expect(rows).toEqual([])
    await owner.publish(compacted)
    held.release()

    await until(() => relay.stream.position === 6, 'repaired up to 6')
    await owner.publish(await owner.commit())
    await until(() => relay.stream.position === 7, 'delivered 7')
    expect(relay.delivered).toEqual([
      ...[1, 2, 3].map((seq) => ({ seq, source: 'bus' })),
      { seq: 6, source: 'snapshot' },
      { seq: 7, source: 'bus' },
    ])
    expect(relay.stream.stats.duplicates).toBe(2) // the held broadcasts of 5 and 6
    sameState(relay.ydoc, owner.ydoc)
    expect(relay.errors).toEqual([])

    // A relay that starts with nothing gets the snapshot and the log after it.
    await owner.commit()
    const late = await startRelay(await openBus(uniquePrefix()), database.pool, doc)
    expect(late.delivered).toEqual([
      { seq: 6, source: 'snapshot' },
      { seq: 7, source: 'log' },
      { seq: 8, source: 'log' },
    ])
    sameState(late.ydoc, owner.ydoc)
  })

  it('[RS6] broadcasts lost, repeated, reordered and by reference, with compactions: every relay ends with the owner state, numbers ascending', async () => {
    const { owner, relayBus, doc } = await setUp()
    const relays = [await startRelay(relayBus, database.pool, doc), await startRelay(relayBus, database.pool, doc)]
    const random = seeded(21)
    const window: Broadcast[] = []
    let last = 0
    for (let i = 0; i < 60; i++) {
      const broadcast = await owner.commit(1 + Math.floor(random() * 3), { compact: i % 17 === 16 })
      last = broadcast.last
      const r = random()
      if (r < 0.2) continue // lost
      window.push(r < 0.3 ? referenceOf(broadcast.first, broadcast.last) : broadcast)
      if (r > 0.85) window.push(broadcast) // repeated
      // Now and then the window goes out shuffled, as two owners' messages might interleave.
      if (random() < 0.4)
        for (const b of window.splice(0).sort(() => random() - 0.5)) {
          await owner.publish(b)
          if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 5))
        }
    }
    for (const b of window.splice(0)) await owner.publish(b)
    await owner.publish(referenceOf(last))
    for (const relay of relays) {
      await until(() => relay.stream.position === last, 'caught up')
      const seqs = seqsOf(relay)
      expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)).toBe(true)
      expect(seqs.at(-1)).toBe(last)
      sameState(relay.ydoc, owner.ydoc)
      expect(relay.errors).toEqual([])
    }
    const sources = new Set(relays.flatMap((r) => r.delivered.map((d) => d.source)))
    expect(sources.has('bus') && sources.has('log')).toBe(true)
  })
})

describe.skipIf(skipPg || skipPrivateRedis)('relay stream, Redis restarted', () => {
  const database = useMigratedDatabase()

  it('[RS7] what was committed while Redis was down is read from the log once the relay is subscribed again', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.kill())
    const prefix = uniquePrefix()
    const doc = `acme/records/${randomUUID()}`
    const store = new PgDocStore(database.pool)
    cleanups.push(() => store.close())
    const owner = new Owner(database.pool, store, await openBus(prefix, redis.url), doc)
    let relay: Relay | undefined
    let resubscribed = 0
    const relayBus = await openBus(prefix, redis.url, () => {
      resubscribed++
      void relay?.stream.catchUp()
    })
    relay = await startRelay(relayBus, database.pool, doc)
    for (let i = 0; i < 3; i++) expect(await owner.publish(await owner.commit())).toBe(1)
    await until(() => relay.stream.position === 3, 'delivered up to 3')

    await redis.kill()
    await until(() => !relayBus.connected && !owner.bus.connected, 'both disconnected')
    for (let i = 0; i < 3; i++) {
      const broadcast = await owner.commit()
      await expect(owner.publish(broadcast)).rejects.toThrow()
    }
    await redis.start()
    await until(() => relay.stream.position === 6, 'repaired after the restart')
    expect(resubscribed).toBe(1)
    await until(() => owner.bus.connected, 'the owner reconnected')
    expect(await owner.publish(await owner.commit())).toBe(1)
    await until(() => relay.stream.position === 7, 'delivered 7')
    expect(relay.delivered).toEqual([
      ...[1, 2, 3].map((seq) => ({ seq, source: 'bus' })),
      ...[4, 5, 6].map((seq) => ({ seq, source: 'log' })),
      { seq: 7, source: 'bus' },
    ])
    sameState(relay.ydoc, owner.ydoc)
  })
})

/** A small seeded generator (mulberry32): the same run every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
