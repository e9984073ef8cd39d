/**
 * The message bus between cluster members (server/cluster/Bus.ts) on a real Redis: the shared
 * one for pub/sub under a prefix unique to each test, and a private one that a test kills and
 * starts again. Gap repair from PostgreSQL is test/cluster.relay.pg.test.ts.
 */
import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, type BusOptions } from '../server/cluster/Bus.js'
import { freePort } from './helpers/freePort.js'
import { REDIS_URL, skipPrivateRedis, skipRedis, startPrivateRedis, uniquePrefix } from './helpers/redis.js'
import { until } from './helpers/server.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function openBus(options: Partial<BusOptions> & { prefix: string }): Promise<Bus> {
  const bus = await Bus.open({ url: REDIS_URL, member: randomUUID(), ...options })
  cleanups.push(() => bus.close())
  return bus
}

/** Collects what a handler receives. */
function inbox(): { received: Buffer[]; handler: (payload: Buffer) => void } {
  const received: Buffer[] = []
  return { received, handler: (payload) => received.push(payload) }
}

describe.skipIf(skipRedis)('cluster bus', () => {
  it('[CB1] a publish resolves with the number of members subscribed: 0 with none (no owner), 1, 2, and 0 again after they left', async () => {
    const prefix = uniquePrefix()
    const [publisher, a, b] = await Promise.all([openBus({ prefix }), openBus({ prefix }), openBus({ prefix })])
    const doc = 'acme/records/r1'
    expect(await publisher.publish(doc, 'owner', Buffer.from('x'))).toBe(0)
    const inA = inbox()
    await a.subscribe(doc, 'owner', inA.handler)
    expect(await publisher.publish(doc, 'owner', Buffer.from('one'))).toBe(1)
    // The other channel of the same document, and the same channel of another, are not it.
    expect(await publisher.publish(doc, 'relays', Buffer.from('x'))).toBe(0)
    expect(await publisher.publish('acme/records/r2', 'owner', Buffer.from('x'))).toBe(0)
    const inB = inbox()
    await b.subscribe(doc, 'owner', inB.handler)
    expect(await publisher.publish(doc, 'owner', Buffer.from('two'))).toBe(2)
    await until(() => inA.received.length === 2 && inB.received.length === 1, 'both received')
    expect(inA.received.map(String)).toEqual(['one', 'two'])
    expect(inB.received.map(String)).toEqual(['two'])
    await a.unsubscribe(doc, 'owner', inA.handler)
    await b.unsubscribe(doc, 'owner', inB.handler)
    expect(await publisher.publish(doc, 'owner', Buffer.from('x'))).toBe(0)
    // Another cluster (prefix) on the same Redis does not hear this one.
    const other = await openBus({ prefix: uniquePrefix() })
    await other.subscribe(doc, 'owner', () => {})
    expect(await publisher.publish(doc, 'owner', Buffer.from('x'))).toBe(0)
  })

  it('[CB2] payloads are bytes as they are, without a text encoding: every byte value, and 1 MiB', async () => {
    const prefix = uniquePrefix()
    const [publisher, subscriber] = await Promise.all([openBus({ prefix }), openBus({ prefix })])
    const doc = 'acme/records/bytes'
    const got = inbox()
    await subscriber.subscribe(doc, 'relays', got.handler)
    // A plain node-redis subscriber sees on the wire exactly the bytes published.
    const raw = createClient({ url: REDIS_URL })
    cleanups.push(() => raw.close())
    await raw.connect()
    const wire: Buffer[] = []
    await raw.subscribe(`${prefix}:relays:${doc}`, (message) => wire.push(message), true)
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const large = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) & 0xff
    expect(await publisher.publish(doc, 'relays', new Uint8Array(every))).toBe(2)
    expect(await publisher.publish(doc, 'relays', large)).toBe(2)
    await until(() => got.received.length === 2 && wire.length === 2, 'both payloads received')
    expect(got.received[0]!.equals(every)).toBe(true)
    expect(got.received[1]!.equals(large)).toBe(true)
    expect(wire.map((b) => b.length)).toEqual([256, 1024 * 1024])
  })

  it('[CB3] a direct message reaches only its member; a send to a member that is gone reaches no one', async () => {
    const prefix = uniquePrefix()
    const [toA, toB] = [inbox(), inbox()]
    const a = await openBus({ prefix, onDirect: toA.handler })
    const b = await openBus({ prefix, onDirect: toB.handler })
    expect(await a.send(b.member, Buffer.from('for b'))).toBe(1)
    await until(() => toB.received.length === 1, 'b received')
    expect(toA.received).toEqual([])
    expect(await a.send(randomUUID(), Buffer.from('x'))).toBe(0)
    await b.close()
    // Redis drops a closed client's subscriptions just after answering its QUIT: a send at
    // that instant may still count it.
    await until(async () => (await a.send(b.member, Buffer.from('x'))) === 0, 'a send to the closed member reaches no one')
  })

  it('[CB4] handlers of one channel each get every message; one that throws is reported and does not stop the others', async () => {
    const prefix = uniquePrefix()
    const errors: Error[] = []
    const publisher = await openBus({ prefix })
    const subscriber = await openBus({ prefix, onError: (error) => errors.push(error) })
    const doc = 'acme/records/handlers'
    const [first, second] = [inbox(), inbox()]
    const throwing = () => {
      throw new Error('handler failed')
    }
    await subscriber.subscribe(doc, 'relays', first.handler)
    await subscriber.subscribe(doc, 'relays', throwing)
    await subscriber.subscribe(doc, 'relays', second.handler)
    expect(await publisher.publish(doc, 'relays', Buffer.from('m1'))).toBe(1)
    await until(() => second.received.length === 1, 'second handler received')
    await subscriber.unsubscribe(doc, 'relays', first.handler)
    await subscriber.unsubscribe(doc, 'relays', throwing)
    expect(await publisher.publish(doc, 'relays', Buffer.from('m2'))).toBe(1)
    await until(() => second.received.length === 2, 'second handler received again')
    expect(first.received.map(String)).toEqual(['m1'])
    expect(errors.map((e) => e.message)).toEqual(['handler failed'])
  })

  it('[CB5] opening on a Redis that does not answer rejects with one line', async () => {
    const port = await freePort()
    await expect(Bus.open({ url: `redis://:secret@127.0.0.1:${port}`, member: 'm' })).rejects.toThrow(
      new RegExp(`^cannot connect to Redis at redis://127\\.0\\.0\\.1:${port} \\(.+\\)$`),
    )
  })
})

describe.skipIf(skipPrivateRedis)('cluster bus, Redis restarted', () => {
  it('[CB6] Redis killed: disconnected, publishes reject (never 0); started again: resubscribed, messages flow', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.kill())
    const prefix = uniquePrefix()
    const events: string[] = []
    const publisher = await openBus({ url: redis.url, prefix, maxBackoffMs: 100 })
    const subscriber = await openBus({
      url: redis.url,
      prefix,
      maxBackoffMs: 100,
      onDisconnected: () => events.push('disconnected'),
      onResubscribed: () => events.push('resubscribed'),
    })
    const doc = 'acme/records/restart'
    const got = inbox()
    await subscriber.subscribe(doc, 'owner', got.handler)
    expect(subscriber.connected).toBe(true)
    expect(await publisher.publish(doc, 'owner', Buffer.from('before'))).toBe(1)

    await redis.kill()
    await until(() => !subscriber.connected && !publisher.connected, 'both disconnected')
    expect(events).toEqual(['disconnected'])
    // At once, not after the publish timeout: it is not queued for later either.
    await expect(publisher.publish(doc, 'owner', Buffer.from('while down'))).rejects.toThrow(/offline/)

    await redis.start()
    await until(() => subscriber.connected && publisher.connected, 'both reconnected')
    expect(events).toEqual(['disconnected', 'resubscribed'])
    // The fresh Redis knows the subscription only because the bus renewed it.
    expect(await publisher.publish(doc, 'owner', Buffer.from('after'))).toBe(1)
    await until(() => got.received.length === 2, 'received after the restart')
    expect(got.received.map(String)).toEqual(['before', 'after'])
  })

  it('[CB8] a Redis that does not answer: a publish rejects after publishTimeoutMs', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.kill())
    const publisher = await openBus({ url: redis.url, prefix: uniquePrefix(), publishTimeoutMs: 300 })
    redis.pause(true)
    const started = performance.now()
    await expect(publisher.publish('acme/records/paused', 'owner', Buffer.from('x'))).rejects.toThrow(
      'Redis did not answer a publish within 300 ms',
    )
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    redis.pause(false)
  })

  it('[CB7] a subscribe made while Redis is down completes once it is back', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.kill())
    const prefix = uniquePrefix()
    const publisher = await openBus({ url: redis.url, prefix, maxBackoffMs: 100 })
    const subscriber = await openBus({ url: redis.url, prefix, maxBackoffMs: 100 })
    await redis.kill()
    await until(() => !subscriber.connected, 'disconnected')
    const got = inbox()
    let subscribed = false
    const subscribing = subscriber.subscribe('acme/records/late', 'relays', got.handler).then(() => {
      subscribed = true
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(subscribed).toBe(false)
    await redis.start()
    await subscribing
    await until(() => publisher.connected, 'publisher reconnected')
    expect(await publisher.publish('acme/records/late', 'relays', Buffer.from('hello'))).toBe(1)
    await until(() => got.received.length === 1, 'received')
  })
  it('[CB9] a channel left and subscribed again at once (a relay closing as another opens for the same document) keeps delivering', async () => {
    const prefix = uniquePrefix()
    const [publisher, subscriber] = await Promise.all([openBus({ prefix }), openBus({ prefix })])
    const doc = 'acme/records/again'
    const [first, second] = [inbox(), inbox()]
    await subscriber.subscribe(doc, 'relays', first.handler)
    // Not awaited: the new handler comes while Redis has not yet answered the UNSUBSCRIBE.
    const leaving = subscriber.unsubscribe(doc, 'relays', first.handler)
    await subscriber.subscribe(doc, 'relays', second.handler)
    await leaving
    expect(await publisher.publish(doc, 'relays', Buffer.from('after'))).toBe(1)
    await until(() => second.received.length === 1, 'the new handler received')
    expect(first.received).toEqual([])
  })
})
