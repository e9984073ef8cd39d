/**
 * A server process as a cluster member (docs/cluster.md): its lease and document ownership
 * (Membership) on a small pool of its own, and its connection to the other members (Bus).
 * It is what the generic core sees through two seams: the registry's `DocOwnership` (claim a
 * document before loading it, release it once it left memory) and the document store's fence
 * (PgDocStore's `fence`: every append proves, in its transaction, that this member still owns
 * each document at the epoch of its claim).
 */
import { hostname } from 'node:os'
import { type Pool, type PoolClient, openPool } from '../pg/openPool.js'
import type { DocRelays } from '../sync/DocRelays.js'
import type { DocForwarding, DocOwnership, LoadHook, OwnershipRefusal } from '../sync/DocRegistry.js'
import { Bus } from './Bus.js'
import { broadcastOf, decodeBusMessage, encodeBusMessage, referenceOf } from './busMessages.js'
import { CallForwarder, type RunCall } from './CallForwarder.js'
import { FencedError } from './fence.js'
import { Membership } from './Membership.js'
import { OwnerEnd } from './OwnerEnd.js'
import { RelayHub } from './RelayHub.js'

export interface ClusterOptions {
  /** `redis://…` (`ACCORD_REDIS_URL`): the bus between members. */
  redisUrl: string
  /** This member's label in logs and metrics (`ACCORD_NODE_ID`). @default `<host name>-<pid>` */
  node?: string
  /** Channel prefix, the same for every member of one cluster. @default 'accord' */
  prefix?: string
  /** Lease timings (Membership's options). @default 5000 / 1000 / 1000 */
  leaseMs?: number
  renewEveryMs?: number
  safetyMarginMs?: number
  /** How long a call forwarded to a document's owner waits for its answer. @default 5000 */
  callTimeoutMs?: number
  /**
   * How often the owner announces the head of each document it committed lately, and the
   * relays and owners sweep for members gone without a word. @default 1000
   */
  headEveryMs?: number
}

/** A document's head is announced this many times after its last commit. */
export const HEAD_ANNOUNCEMENTS = 3

export interface ClusterEvents {
  /** Another member claimed a document this one held: drop it (its sockets closed with 1011). */
  onLost(doc: string): void
  onError(error: unknown, context: string): void
}

/** Connections of the membership's own pool: a renewal never waits behind the stores' queries. */
const MEMBERSHIP_POOL_SIZE = 2

/** What the bus hands this member, bound once it serves (see `serve`). */
interface BusHooks {
  direct(payload: Buffer): void
  resubscribed(): void
}

export class ClusterMember implements DocOwnership {
  /** The relays of this member's sockets for documents others own, once it serves. */
  relays: RelayHub | null = null
  /** Calls for documents others own, forwarded to them (the registry's `forwarding`), and theirs served here. */
  readonly calls: CallForwarder
  private leaving = false
  private owner: OwnerEnd<unknown> | null = null
  /** The last log number this member committed of each document lately, and how many announcements of it are left. */
  private readonly heads = new Map<string, { last: number; left: number }>()
  private readonly headTimer: NodeJS.Timeout
  private readonly headEveryMs: number

  private constructor(
    readonly membership: Membership,
    readonly bus: Bus,
    private readonly pool: Pool,
    private readonly events: ClusterEvents,
    private readonly hooks: BusHooks,
    callTimeoutMs: number | undefined,
    headEveryMs: number | undefined,
  ) {
    this.calls = new CallForwarder({ bus, timeoutMs: callTimeoutMs, onError: events.onError })
    hooks.direct = (payload) => this.direct(payload)
    this.headEveryMs = headEveryMs ?? 1000
    this.headTimer = setInterval(() => this.announceHeads(), this.headEveryMs)
    this.headTimer.unref()
  }

  /**
   * Announces to their relays the head of the documents committed lately (a by-reference
   * broadcast of the last number), each a few times after its last commit: a relay that lost
   * the last broadcast of a document (Redis dropped it) sees the gap and reads the log, even if
   * nothing is committed after it. A loss while a relay was cut off from Redis is caught up at
   * its resubscription.
   */
  private announceHeads(): void {
    for (const [doc, head] of this.heads) {
      if (--head.left <= 0) this.heads.delete(doc)
      this.bus.publish(doc, 'relays', encodeBusMessage(referenceOf(head.last))).catch(() => {
        // Redis down: the relays catch up when they are subscribed again.
      })
    }
  }

  /** The registry's seam for calls on documents others own. */
  get forwarding(): DocForwarding {
    return this.calls
  }

  /** A message on this member's direct channel. */
  private direct(payload: Buffer): void {
    const message = decodeBusMessage(payload)
    if (message.kind === 'answer') this.calls.answer(message)
    else if (message.kind === 'toClient') this.relays?.toClient(message)
    else if (message.kind === 'closeClient') this.relays?.closeClient(message)
  }

  /**
   * Registers a member with a live lease on `databaseUrl` and connects to Redis; rejects with
   * one line when either cannot be reached (nothing is left open then).
   */
  static async start(databaseUrl: string, options: ClusterOptions, events: ClusterEvents): Promise<ClusterMember> {
    const pool = await openPool(databaseUrl, { max: MEMBERSHIP_POOL_SIZE })
    let lost: (doc: string) => void = () => {}
    const membership = new Membership(pool, {
      node: options.node ?? `${hostname()}-${process.pid}`,
      leaseMs: options.leaseMs,
      renewEveryMs: options.renewEveryMs,
      safetyMarginMs: options.safetyMarginMs,
      onLost: (doc) => lost(doc),
      onError: (error) => events.onError(error, 'lease renewal'),
    })
    let bus: Bus | undefined
    const hooks: BusHooks = { direct: () => {}, resubscribed: () => {} }
    try {
      await membership.start()
      bus = await Bus.open({
        url: options.redisUrl,
        member: membership.id,
        prefix: options.prefix,
        onDirect: (payload) => hooks.direct(payload),
        onResubscribed: () => hooks.resubscribed(),
        onError: (error) => events.onError(error, 'redis'),
      })
    } catch (error) {
      await membership.stop().catch(() => {})
      await pool.end().catch(() => {})
      throw error
    }
    lost = (doc) => events.onLost(doc)
    return new ClusterMember(membership, bus, pool, events, hooks, options.callTimeoutMs, options.headEveryMs)
  }

  /**
   * Serves documents across members: returns the registry's load hook that makes this member,
   * owner of each document it loads, take the messages relayed by the others (OwnerEnd), and
   * the relays of its own sockets for documents others own (RelayHub), which read the log
   * through `storePool`; the calls others forward to the documents it owns run through `runCall`
   * (the registry's).
   */
  serve<N>(storePool: Pool, runCall: RunCall): { onLoad: LoadHook<N>; relays: DocRelays } {
    const onError = this.events.onError
    const sweepEveryMs = this.headEveryMs
    const owner = new OwnerEnd<N>({ bus: this.bus, onError, calls: { forwarder: this.calls, run: runCall }, pool: storePool, sweepEveryMs })
    const relays = new RelayHub({ bus: this.bus, pool: storePool, member: this.id, onError, sweepEveryMs })
    this.owner = owner as OwnerEnd<unknown>
    this.relays = relays
    this.hooks.resubscribed = () => relays.catchUp()
    return { onLoad: owner.onLoad, relays }
  }

  /** This member's id (new at each start) and label. */
  get id(): string {
    return this.membership.id
  }

  get node(): string {
    return this.membership.node
  }

  /** Whether this member may write now: its lease is live (readiness). */
  canWrite(): boolean {
    return this.membership.canWrite()
  }

  /** Refuses every claim from now on (the member is shutting down), as without a lease. */
  leave(): void {
    this.leaving = true
  }

  async claim(docName: string): Promise<OwnershipRefusal | null> {
    if (this.leaving) return { reason: 'no-lease' }
    const claim = await this.membership.claim(docName)
    if (claim.ok) return null
    return claim.reason === 'held' ? { reason: 'held', owner: claim.owner } : { reason: 'no-lease' }
  }

  release(docName: string): void {
    this.membership.release(docName).catch((error: unknown) => this.events.onError(error, 'release'))
  }

  /**
   * PgDocStore's fence: null when this member still owns every document at its epoch (their
   * rows then locked until the append's transaction ends), the FencedError otherwise.
   */
  readonly fence = async (client: PoolClient, docs: readonly string[]): Promise<Error | null> => {
    try {
      await this.membership.fence(client, docs)
      return null
    } catch (error) {
      if (error instanceof FencedError) return error
      throw error
    }
  }

  /**
   * Announces to the document's relays what this member, its owner, just committed as log
   * numbers `first`, `first + 1`, … (one per update), after the commit: everything announced
   * is in the log. A publish that fails is reported only; relays read what they missed from
   * the log at the next broadcast (RelayStream).
   */
  publishCommitted(docName: string, first: number, updates: readonly Uint8Array[]): void {
    if (updates.length === 0) return
    this.heads.set(docName, { last: first + updates.length - 1, left: HEAD_ANNOUNCEMENTS })
    this.bus
      .publish(docName, 'relays', encodeBusMessage(broadcastOf(first, updates)))
      .catch((error: unknown) => this.events.onError(error, 'publish'))
  }

  /** Releases every document and leaves (call after the last commits), then disconnects. */
  async stop(): Promise<void> {
    clearInterval(this.headTimer)
    this.heads.clear()
    this.owner?.close()
    this.relays?.close()
    this.calls.close()
    await this.membership.stop().catch((error: unknown) => this.events.onError(error, 'leaving the cluster'))
    await this.bus.close()
    await this.pool.end().catch(() => {})
  }
}
