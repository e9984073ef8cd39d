/**
 * One cluster member: a process lifetime's lease in PostgreSQL, and the documents it owns
 * (docs/cluster.md). Generic: documents are names, whatever the caller keys its store by.
 *
 * Leases.
 * - A member is a row of `cluster_members` (migration 8) with a fresh id per process start;
 *   `node` is only a label. Its `lease_until` is in ms by PostgreSQL's clock: each renewal
 *   moves it to at least the renewal statement's start + `leaseMs`. Whether a lease is live is
 *   only ever decided by PostgreSQL, against its own clock, so members' clocks never meet.
 * - Another member may claim this member's documents as soon as PostgreSQL's clock has passed
 *   `lease_until`.
 * - This member stops writing before then: `canWrite()` is true until `deadline`, the time
 *   (its own monotonic clock) at which it SENT its last successful renewal + `leaseMs` −
 *   `safetyMarginMs`. That renewal ran after it was sent, so the lease it set ends at least
 *   `leaseMs` after the send: the member stops at least `safetyMarginMs` before PostgreSQL
 *   lets anyone else claim, provided the two clocks run at about the same rate over one lease
 *   (the margin covers their drift and the time between a `canWrite()` and the commit after
 *   it). The local clock only ever makes the member stop earlier.
 * - A renewal after the lease expired revives the member: documents nobody claimed meanwhile
 *   are still its own at the same epochs (nobody else can have written them).
 *
 * Ownership.
 * - `doc_owners` holds each document's owner (null once released) and the epoch of its
 *   latest claim. A claim succeeds when the document has no owner, or its owner is this member
 *   (the epoch still grows, fencing the member's own older transactions), or its owner's lease
 *   is not live; and only while this member's own lease is live. It raises the epoch by one
 *   under the row's lock, so of members claiming at once exactly one wins.
 * - Safety does not rest on the clocks: every commit checks owner and epoch under the same
 *   row lock (fence.ts), so a member that lost a document cannot write it, whatever it
 *   believes. Clocks only decide when a claim may happen, and make the old owner stop first.
 * - Each renewal also reports the documents this member holds that PostgreSQL says it lost
 *   (`onLost`), and releases rows naming it that it does not hold (a claim whose reply was
 *   lost with its connection), once they are a lease old.
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { inTransaction } from '../pg/inTransaction.js'
import type { Pool, PoolClient } from '../pg/openPool.js'
import { FencedError, type Holding, fence } from './fence.js'

export interface MembershipOptions {
  /** A label for logs and metrics (`ACCORD_NODE_ID`); the member's id is new at each start. @default os.hostname() */
  node?: string
  /** How long a renewal keeps the member live, by PostgreSQL's clock. @default 5000 */
  leaseMs?: number
  /** How often the lease is renewed. @default 1000 */
  renewEveryMs?: number
  /**
   * How long before its lease ends, by its own clock, the member stops writing; covers the two
   * clocks' drift over one lease and the time from a `canWrite()` to its commit.
   * @default 1000
   */
  safetyMarginMs?: number
  /** How long the rows of members whose lease ended are kept (pruned at each start). @default 1 day */
  retainMembersMs?: number
  /** A document this member held was claimed by another member (seen at a renewal): drop it. */
  onLost?: (doc: string, epoch: number) => void
  /** A renewal failed (the member keeps trying; `canWrite()` turns false at its deadline). */
  onError?: (error: Error) => void
}

/** The outcome of `claim`: expected refusals are values, not errors. */
export type Claim =
  | { ok: true; epoch: number }
  /** Another member holds it with a live lease. */
  | { ok: false; reason: 'held'; owner: string; epoch: number }
  /** This member's lease is not live (not started, not renewed in time, stopped). */
  | { ok: false; reason: 'no-lease' }

/** Who owns a document, as PostgreSQL says now. */
export interface Owner {
  /** null once released. */
  owner: string | null
  epoch: number
  /** Whether the owner's lease is live. */
  live: boolean
}

/** Renewals in flight at once at most: one that hangs (a dead connection) does not stop the next. */
const MAX_RENEWALS_IN_FLIGHT = 2

/** Milliseconds since the epoch by PostgreSQL's clock, the statement's start. */
export const NOW = '(extract(epoch FROM statement_timestamp()) * 1000)::bigint'
const LIVE = (member: string) => `EXISTS (SELECT 1 FROM cluster_members m WHERE m.id = ${member} AND m.lease_until > ${NOW})`

const SQL = {
  register: `WITH pruned AS (DELETE FROM cluster_members WHERE lease_until < ${NOW} - $4::bigint)
    INSERT INTO cluster_members (id, node, started_at, lease_until) VALUES ($1, $2, ${NOW}, ${NOW} + $3::bigint)`,
  // Renews (never shortening: renewals may overlap), releases rows naming this member that it
  // neither holds nor is claiming ($3) once a lease old, and returns the held documents ($4 at
  // $5) whose row names another owner or epoch. It never waits for a lock: no one else locks
  // a member's row, and a document row locked by a transaction is left for the next renewal.
  renew: `WITH renewed AS (
      UPDATE cluster_members SET lease_until = greatest(lease_until, ${NOW} + $2::bigint) WHERE id = $1 RETURNING id),
    orphans AS (
      UPDATE doc_owners SET owner = NULL WHERE doc IN (SELECT doc FROM doc_owners
        WHERE owner = $1 AND doc <> ALL($3::text[]) AND claimed_at < ${NOW} - $2::bigint FOR UPDATE SKIP LOCKED))
    SELECT (SELECT count(*) FROM renewed)::integer AS renewed,
      ARRAY(SELECT h.doc FROM unnest($4::text[], $5::bigint[]) AS h(doc, epoch) WHERE NOT EXISTS
        (SELECT 1 FROM doc_owners o WHERE o.doc = h.doc AND o.owner = $1 AND o.epoch = h.epoch)) AS lost`,
  // A document never claimed: inserting its row claims it (a concurrent insert waits for this
  // one, then conflicts and goes the locked way).
  claimCold: `INSERT INTO doc_owners (doc, owner, epoch, claimed_at) SELECT $1, $2, 1, ${NOW} WHERE ${LIVE('$2')}
    ON CONFLICT (doc) DO NOTHING RETURNING epoch`,
  lock: 'SELECT 1 FROM doc_owners WHERE doc = $1 FOR UPDATE',
  // Run after `lock`, in the same transaction: its snapshot is taken once the lock is ours, so
  // it sees every claim and renewal committed before (a statement that waited for the lock
  // would judge leases by a snapshot older than the owner it finds).
  claimLocked: `WITH cur AS (
      SELECT o.owner, o.epoch, o.owner IS NOT NULL AND o.owner <> $2 AND ${LIVE('o.owner')} AS held, ${LIVE('$2')} AS leased
      FROM doc_owners o WHERE o.doc = $1),
    won AS (
      UPDATE doc_owners o SET owner = $2, epoch = o.epoch + 1, claimed_at = ${NOW} FROM cur
      WHERE o.doc = $1 AND cur.leased AND NOT cur.held RETURNING o.epoch)
    SELECT cur.owner, cur.epoch, cur.held, cur.leased, (SELECT epoch FROM won) AS won FROM cur`,
  release: 'UPDATE doc_owners SET owner = NULL WHERE doc = $1 AND owner = $2 AND epoch = $3',
  leave: `WITH released AS (UPDATE doc_owners SET owner = NULL WHERE owner = $1)
    DELETE FROM cluster_members WHERE id = $1`,
  owner: `SELECT o.owner, o.epoch, ${LIVE('o.owner')} AS live FROM doc_owners o WHERE o.doc = $1`,
} as const

export class Membership {
  /** This process lifetime's member id, the owner named in `doc_owners`. */
  readonly id = randomUUID()
  readonly node: string
  readonly leaseMs: number
  readonly renewEveryMs: number
  readonly safetyMarginMs: number
  readonly #pool: Pool
  readonly #options: MembershipOptions
  /** Documents held, by the epoch of their claim. */
  readonly #held = new Map<string, number>()
  /** Claims in flight, per document (a renewal must not release what one is taking). */
  readonly #claiming = new Map<string, number>()
  #deadline = Number.NEGATIVE_INFINITY
  #renewals = 0
  #timer: NodeJS.Timeout | undefined
  #state: 'new' | 'started' | 'stopped' = 'new'

  constructor(pool: Pool, options: MembershipOptions = {}) {
    this.#pool = pool
    this.#options = options
    this.node = options.node ?? hostname()
    this.leaseMs = options.leaseMs ?? 5000
    this.renewEveryMs = options.renewEveryMs ?? 1000
    this.safetyMarginMs = options.safetyMarginMs ?? 1000
    if (!(this.safetyMarginMs > 0 && this.renewEveryMs > 0 && this.renewEveryMs < this.leaseMs - this.safetyMarginMs))
      throw new RangeError('a membership needs 0 < renewEveryMs < leaseMs − safetyMarginMs and safetyMarginMs > 0')
  }

  /** Until when (`performance.now()`) this member may write: see the lease rules above. */
  get deadline(): number {
    return this.#state === 'started' ? this.#deadline : Number.NEGATIVE_INFINITY
  }

  /** Whether this member may commit now: started, not stopped, and before its deadline. */
  canWrite(): boolean {
    return performance.now() < this.deadline
  }

  /** Registers the member with a live lease and renews it every `renewEveryMs` until `stop()`. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error('a membership starts once')
    const sent = performance.now()
    await this.#pool.query({
      name: 'cluster-register',
      text: SQL.register,
      values: [this.id, this.node, this.leaseMs, this.#options.retainMembersMs ?? 86_400_000],
    })
    this.#state = 'started'
    this.#extend(sent)
    this.#timer = setInterval(() => {
      if (this.#renewals < MAX_RENEWALS_IN_FLIGHT) void this.renew()
    }, this.renewEveryMs)
    this.#timer.unref()
  }

  /** Renews the lease once now; false (and `onError`) when it failed. */
  async renew(): Promise<boolean> {
    if (this.#state !== 'started') return false
    const sent = performance.now()
    const held = [...this.#held]
    const kept = [...this.#held.keys(), ...this.#claiming.keys()]
    this.#renewals++
    try {
      const { rows } = await this.#pool.query<{ renewed: number; lost: string[] }>({
        name: 'cluster-renew',
        text: SQL.renew,
        values: [this.id, this.leaseMs, kept, held.map(([doc]) => doc), held.map(([, epoch]) => epoch)],
      })
      if (this.#state !== 'started') return false
      const { renewed, lost } = rows[0]!
      if (renewed === 0) throw new Error(`member ${this.id} is no longer registered (stopped, or pruned after a long pause)`)
      this.#extend(sent)
      const sentEpochs = new Map(held)
      for (const doc of lost) {
        const epoch = sentEpochs.get(doc)!
        // A release or a newer claim of our own since the renewal was sent is not a loss.
        if (this.#held.get(doc) !== epoch) continue
        this.#held.delete(doc)
        this.#options.onLost?.(doc, epoch)
      }
      return true
    } catch (error) {
      this.#options.onError?.(error as Error)
      return false
    } finally {
      this.#renewals--
    }
  }

  /** Claims `doc` (see the ownership rules above); on success this member holds it at the new epoch. */
  async claim(doc: string): Promise<Claim> {
    if (!this.canWrite()) return { ok: false, reason: 'no-lease' }
    this.#claiming.set(doc, (this.#claiming.get(doc) ?? 0) + 1)
    try {
      const claim = await this.#claim(doc)
      if (claim.ok) this.#held.set(doc, claim.epoch)
      else if (claim.reason === 'held') this.#held.delete(doc)
      return claim
    } finally {
      const n = this.#claiming.get(doc)! - 1
      if (n === 0) this.#claiming.delete(doc)
      else this.#claiming.set(doc, n)
    }
  }

  async #claim(doc: string): Promise<Claim> {
    const cold = await this.#pool.query<{ epoch: number }>({ name: 'cluster-claim-cold', text: SQL.claimCold, values: [doc, this.id] })
    if (cold.rows.length > 0) return { ok: true, epoch: cold.rows[0]!.epoch }
    return inTransaction(this.#pool, async (client) => {
      // No row: the cold insert found none either, so it was this member's lease that failed it.
      const locked = await client.query({ name: 'cluster-lock', text: SQL.lock, values: [doc] })
      if (locked.rows.length === 0) return { ok: false, reason: 'no-lease' }
      const { rows } = await client.query<{ owner: string; epoch: number; held: boolean; leased: boolean; won: number | null }>({
        name: 'cluster-claim-locked',
        text: SQL.claimLocked,
        values: [doc, this.id],
      })
      const row = rows[0]!
      if (row.won !== null) return { ok: true, epoch: row.won }
      if (!row.leased) return { ok: false, reason: 'no-lease' }
      return { ok: false, reason: 'held', owner: row.owner, epoch: row.epoch }
    })
  }

  /** The epoch this member holds `doc` at, if it holds it. */
  epochOf(doc: string): number | undefined {
    return this.#held.get(doc)
  }

  /** The documents held, by epoch. */
  held(): ReadonlyMap<string, number> {
    return this.#held
  }

  /**
   * Gives `doc` up, after its last commit: another member's claim succeeds at once, without
   * waiting for this lease. False when this member no longer owned it.
   */
  async release(doc: string): Promise<boolean> {
    const epoch = this.#held.get(doc)
    if (epoch === undefined) return false
    this.#held.delete(doc)
    const { rowCount } = await this.#pool.query({ name: 'cluster-release', text: SQL.release, values: [doc, this.id, epoch] })
    return rowCount === 1
  }

  /**
   * The fencing check for a transaction writing `docs` (fence.ts), refused here first when
   * this member does not hold one of them or is past its deadline. A refused document is
   * forgotten: the caller drops it.
   */
  async fence(client: PoolClient, docs: readonly string[]): Promise<void> {
    const notHeld = docs.filter((doc) => !this.#held.has(doc))
    if (notHeld.length > 0) throw new FencedError(this.id, notHeld, 'not-held')
    if (!this.canWrite()) throw new FencedError(this.id, docs, 'lease')
    const holdings: Holding[] = docs.map((doc) => ({ doc, epoch: this.#held.get(doc)! }))
    try {
      await fence(client, { member: this.id, holdings, idleTimeoutMs: this.leaseMs })
    } catch (error) {
      if (error instanceof FencedError)
        for (const { doc, epoch } of holdings) if (error.docs.includes(doc) && this.#held.get(doc) === epoch) this.#held.delete(doc)
      throw error
    }
  }

  /** Who owns `doc` now, by PostgreSQL; null when it was never claimed. */
  async owner(doc: string): Promise<Owner | null> {
    const { rows } = await this.#pool.query<Owner>({ name: 'cluster-owner', text: SQL.owner, values: [doc] })
    return rows[0] ?? null
  }

  /**
   * Stops renewing and writing at once, then releases every document and removes the member
   * (call it after the last commits): the documents can be claimed without waiting for the
   * lease. Rejects when PostgreSQL cannot be reached; the lease then simply expires.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    const started = this.#state === 'started'
    this.#state = 'stopped'
    clearInterval(this.#timer)
    this.#held.clear()
    if (started) await this.#pool.query({ name: 'cluster-leave', text: SQL.leave, values: [this.id] })
  }

  #extend(sent: number): void {
    this.#deadline = Math.max(this.#deadline, sent + this.leaseMs - this.safetyMarginMs)
  }
}
