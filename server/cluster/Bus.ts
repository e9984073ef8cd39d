/**
 * The message bus between cluster members, over Redis pub/sub (docs/cluster.md, "Messages
 * between members"). Redis only carries messages: it may lose them (a restart, a dropped
 * connection, a subscriber too slow for its output buffer), never reorders those of one
 * publisher, and stores nothing. PostgreSQL is the log a relay repairs from (RelayStream.ts).
 *
 * Channels, under a prefix (one per cluster, when several share a Redis):
 * - `<prefix>:owner:<doc>`: to the document's owner, which alone subscribes to it. A publish
 *   that reaches no subscriber means no member serves the document: the sender may claim it.
 * - `<prefix>:relays:<doc>`: from the owner to the members relaying the document.
 * - `<prefix>:member:<id>`: direct messages to one member (Membership's id), subscribed from
 *   `open` to `close`; a send that reaches no one means that member is gone.
 *
 * Payloads are bytes, sent and received as Redis bulk strings (node-redis buffer mode), so a
 * Yjs update travels as it is, without base64 or any other text encoding.
 *
 * Two connections: one subscribed (a subscribed Redis connection may issue nothing else) and
 * one publishing. Both reconnect with capped, jittered backoff; node-redis subscribes again to
 * every channel before it reports the connection ready, and only then does `onResubscribed`
 * run: whatever was published in between is lost, and a relay reads it from PostgreSQL.
 * A publish while the publishing connection is down rejects at once (it is never queued, and
 * never resolves 0, which would read as "no owner").
 */
import { createClient } from 'redis'

type Client = ReturnType<typeof createClient>

/** Which of a document's channels: to its owner, or from its owner to its relays. */
export type DocChannel = 'owner' | 'relays'

/** Receives one message; a throw is reported (`onError`) and the other handlers still run. */
export type BusHandler = (payload: Buffer) => void

export interface BusOptions {
  /** `redis://[user:password@]host:port[/db]` (`ACCORD_REDIS_URL`). */
  url: string
  /** This member's id (Membership's): its direct channel. */
  member: string
  /** Channel names start with it: members of one cluster use the same. @default 'accord' */
  prefix?: string
  /** A direct message to this member. */
  onDirect?: BusHandler
  /**
   * The subscribed connection was lost: messages may be lost from now until `onResubscribed`.
   * Not called for the first connection.
   */
  onDisconnected?: () => void
  /**
   * The subscribed connection is back with every subscription in place: relays read what they
   * missed from PostgreSQL (`RelayStream.catchUp`).
   */
  onResubscribed?: () => void
  /** A connection broke, or a reconnect attempt failed in a new way, or a handler threw. */
  onError?: (error: Error) => void
  /** Longest wait between reconnect attempts. @default 2000 */
  maxBackoffMs?: number
  /** How long opening one connection may take. @default 5000 */
  connectTimeoutMs?: number
  /** How long a publish may wait for Redis's reply before it rejects. @default 2000 */
  publishTimeoutMs?: number
}

interface Subscription {
  readonly handlers: Set<BusHandler>
  /** What node-redis calls with the channel's messages: named again when it is unsubscribed. */
  readonly listener: (message: Buffer) => void
  /** Resolves once Redis confirmed the subscription. */
  readonly confirmed: Promise<void>
}

export class Bus {
  readonly member: string
  readonly prefix: string
  readonly #options: BusOptions
  readonly #subscriber: Client
  readonly #publisher: Client
  readonly #subscriptions = new Map<string, Subscription>()
  #subscribed = false
  #opened = false
  #closed = false
  #lastReported = ''
  /** Subscriptions to confirm again once the subscribed connection is ready (or the bus closed). */
  readonly #waiters = new Set<() => void>()

  private constructor(options: BusOptions) {
    this.#options = options
    this.member = options.member
    this.prefix = options.prefix ?? 'accord'
    this.#subscriber = this.#client()
    this.#publisher = this.#client({ disableOfflineQueue: true })
    this.#subscriber.on('ready', () => {
      if (this.#closed) return
      const again = this.#opened
      this.#subscribed = true
      this.#lastReported = ''
      this.#wake()
      if (again) this.#options.onResubscribed?.()
    })
    this.#subscriber.on('reconnecting', () => this.#lostSubscriber())
    this.#subscriber.on('error', (error: Error) => {
      this.#reportConnection(error)
      this.#lostSubscriber()
    })
    this.#publisher.on('error', (error: Error) => this.#reportConnection(error))
  }

  /**
   * Connects both connections and subscribes to this member's direct channel. Rejects with
   * one line when Redis cannot be reached now (later losses are reconnected).
   */
  static async open(options: BusOptions): Promise<Bus> {
    const bus = new Bus(options)
    try {
      await Promise.all([bus.#subscriber.connect(), bus.#publisher.connect()])
    } catch (error) {
      await bus.close()
      throw new Error(`cannot connect to Redis at ${displayRedisUrl(options.url)} (${(error as Error).message})`)
    }
    bus.#opened = true
    // Subscribed even without `onDirect`: a send to a live member must never count 0 ("gone").
    await bus.#subscribe(bus.#channel('member', bus.member), options.onDirect ?? (() => {}))
    return bus
  }

  /** Whether both connections are up (and the subscriptions in place). */
  get connected(): boolean {
    return this.#subscribed && this.#publisher.isReady
  }

  /**
   * Publishes to one of `doc`'s channels; resolves with the number of members subscribed that
   * received it (0 on `'owner'`: no member owns the document). Rejects when Redis cannot be
   * reached or does not answer within `publishTimeoutMs`: whether it was delivered is unknown.
   */
  publish(doc: string, to: DocChannel, payload: Uint8Array): Promise<number> {
    return this.#publish(this.#channel(to, doc), payload)
  }

  /** A direct message to `member`; resolves with 1 when it received it, 0 when it is gone. */
  send(member: string, payload: Uint8Array): Promise<number> {
    return this.#publish(this.#channel('member', member), payload)
  }

  /**
   * Calls `handler` with each message on `doc`'s channel `to` from when this resolves (Redis
   * confirmed the subscription) until `unsubscribe`. While Redis is unreachable it resolves
   * once the connection is back.
   */
  subscribe(doc: string, to: DocChannel, handler: BusHandler): Promise<void> {
    return this.#subscribe(this.#channel(to, doc), handler)
  }

  async #subscribe(channel: string, handler: BusHandler): Promise<void> {
    if (this.#closed) throw new Error('the bus is closed')
    let subscription = this.#subscriptions.get(channel)
    if (!subscription) {
      const handlers = new Set<BusHandler>()
      const listener = (message: Buffer) => this.#dispatch(handlers, message)
      subscription = { handlers, listener, confirmed: this.#confirm(channel, listener) }
      this.#subscriptions.set(channel, subscription)
    }
    subscription.handlers.add(handler)
    await subscription.confirmed
  }

  /**
   * Subscribes `listener` to `channel`, again after each reconnect until Redis confirms it:
   * node-redis drops a SUBSCRIBE whose reply was lost with its connection (and does not
   * renew it on reconnect, as it only renews confirmed ones).
   */
  async #confirm(channel: string, listener: (message: Buffer) => void): Promise<void> {
    for (;;) {
      try {
        await this.#subscriber.subscribe(channel, listener, true)
        return
      } catch (error) {
        if (this.#closed || !this.#subscriptions.has(channel)) throw error
        if (!this.#subscriber.isReady) await new Promise<void>((resolve) => this.#waiters.add(resolve))
      }
    }
  }

  /** Stops calling `handler`; the channel is unsubscribed once it has no handler left. */
  async unsubscribe(doc: string, to: DocChannel, handler: BusHandler): Promise<void> {
    const channel = this.#channel(to, doc)
    const subscription = this.#subscriptions.get(channel)
    if (!subscription?.handlers.delete(handler) || subscription.handlers.size > 0) return
    this.#subscriptions.delete(channel)
    // Named with its listener, node-redis marks the channel as leaving until Redis answers, so a
    // subscribe meanwhile (a relay closing as another opens) sends SUBSCRIBE again. Without it,
    // that subscribe would join the leaving channel and lose its listener with the answer.
    if (!this.#closed) await this.#subscriber.unsubscribe(channel, subscription.listener, true)
  }

  /** Closes both connections; publishes in flight may reject. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#subscribed = false
    this.#subscriptions.clear()
    this.#wake()
    await Promise.all([this.#subscriber, this.#publisher].map((client) => shut(client)))
  }

  #client(options: { disableOfflineQueue?: boolean } = {}): Client {
    const maxBackoffMs = this.#options.maxBackoffMs ?? 2000
    return createClient({
      url: this.#options.url,
      ...options,
      socket: {
        connectTimeout: this.#options.connectTimeoutMs ?? 5000,
        // The first connection fails at once (`open` rejects); later ones are tried forever.
        reconnectStrategy: (retries) =>
          this.#opened && !this.#closed ? Math.round(Math.min(maxBackoffMs, 50 * 2 ** retries) * (0.5 + Math.random() / 2)) : false,
      },
    })
  }

  #channel(kind: DocChannel | 'member', name: string): string {
    return `${this.prefix}:${kind}:${name}`
  }

  async #publish(channel: string, payload: Uint8Array): Promise<number> {
    if (this.#closed) throw new Error('the bus is closed')
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    const timeoutMs = this.#options.publishTimeoutMs ?? 2000
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer a publish within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      return await Promise.race([this.#publisher.publish(channel, bytes), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  #dispatch(handlers: Iterable<BusHandler>, message: Buffer): void {
    for (const handler of handlers) {
      try {
        handler(message)
      } catch (error) {
        this.#options.onError?.(error as Error)
      }
    }
  }

  #wake(): void {
    for (const resolve of this.#waiters) resolve()
    this.#waiters.clear()
  }

  #lostSubscriber(): void {
    if (!this.#subscribed || this.#closed) return
    this.#subscribed = false
    this.#options.onDisconnected?.()
  }

  /** Reports a connection error, but not the same one again at each reconnect attempt. */
  #reportConnection(error: Error): void {
    // Before `open` resolved, its rejection says it all.
    if (this.#closed || !this.#opened) return
    const line = error.message || error.name
    if (line === this.#lastReported) return
    this.#lastReported = line
    this.#options.onError?.(error)
  }
}

async function shut(client: Client): Promise<void> {
  if (!client.isOpen) return
  if (client.isReady) await client.close()
  else client.destroy()
}

/** `url` without its password, for messages. */
export function displayRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.password = ''
    return parsed.toString()
  } catch {
    return 'an invalid URL'
  }
}
