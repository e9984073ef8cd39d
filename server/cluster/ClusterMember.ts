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
import { HeadNotices } from './HeadNotices.js'
import { Membership } from './Membership.js'
import { OwnerEnd } from './OwnerEnd.js'
import { readLogHead } from './readLog.js'
import { RelayHub } from './RelayHub.js'
import { crashPoint } from './testCrash.js'

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
  /** How often relays and owners sweep for members gone without a word (liveness.ts). @default 1000 */
  sweepEveryMs?: number
}

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
  /** How often relays and owners sweep for members gone without a word. */
  private readonly sweepEveryMs: number
  /** Notices of each owned document's log head to its relays, after its commits and its load. */
  private readonly heads = new HeadNotices((doc, last) => this.bus.publish(doc, 'relays', encodeBusMessage(referenceOf(last))))

  private constructor(
    readonly membership: Membership,
    readonly bus: Bus,
    private readonly pool: Pool,
    private readonly events: ClusterEvents,
    private readonly hooks: BusHooks,
    callTimeoutMs: number | undefined,
    sweepEveryMs: number | undefined,
  ) {
    this.calls = new CallForwarder({ bus, timeoutMs: callTimeoutMs, onError: events.onError })
    hooks.direct = (payload) => this.direct(payload)
    this.sweepEveryMs = sweepEveryMs ?? 1000
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
    return new ClusterMember(membership, bus, pool, events, hooks, options.callTimeoutMs, options.sweepEveryMs)
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
    const sweepEveryMs = this.sweepEveryMs
    const owner = new OwnerEnd<N>({ bus: this.bus, onError, calls: { forwarder: this.calls, run: runCall }, pool: storePool, sweepEveryMs })
    const relays = new RelayHub({ bus: this.bus, pool: storePool, member: this.id, onError, sweepEveryMs })
    this.owner = owner as OwnerEnd<unknown>
    this.relays = relays
    this.hooks.resubscribed = () => relays.catchUp()
    const onLoad: LoadHook<N> = async (room) => {
      const unload = await owner.onLoad(room)
      // Relays read what a previous owner committed without announcing it (it crashed in
      // between), and resend what it received without committing it.
      readLogHead(storePool, room.docName).then(
        (last) => this.announceOwned(room.docName, last),
        (error: unknown) => onError(error, 'reading the log head'),
      )
      return unload
    }
    return { onLoad, relays }
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
    this.heads.forget(docName)
    this.membership.release(docName).catch((error: unknown) => this.events.onError(error, 'release'))
  }

  /**
   * PgDocStore's fence: null when this member still owns every document at its epoch (their
   * rows then locked until the append's transaction ends), the FencedError otherwise.
   */
  readonly fence = async (client: PoolClient, docs: readonly string[]): Promise<Error | null> => {
    try {
      await this.membership.fence(client, docs)
      crashPoint('before-commit')
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
    crashPoint('after-commit')
    this.heads.committed(docName, first + updates.length - 1)
    this.bus
      .publish(docName, 'relays', encodeBusMessage(broadcastOf(first, updates)))
      .catch((error: unknown) => this.events.onError(error, 'publish'))
  }

  /** Tells `docName`'s relays that this member owns it now, its log ending at `last`; its head is noticed again later. */
  private announceOwned(docName: string, last: number): void {
    this.bus
      .publish(docName, 'relays', encodeBusMessage({ kind: 'owned', last }))
      .catch((error: unknown) => this.events.onError(error, 'publish'))
    this.heads.committed(docName, last)
  }

  /** Releases every document and leaves (call after the last commits), then disconnects. */
  async stop(): Promise<void> {
    this.owner?.close()
    this.relays?.close()
    this.calls.close()
    this.heads.close()
    await this.membership.stop().catch((error: unknown) => this.events.onError(error, 'leaving the cluster'))
    await this.bus.close()
    await this.pool.end().catch(() => {})
  }
}
