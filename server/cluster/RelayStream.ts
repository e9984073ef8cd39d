/**
 * A relay's view of one document's log: turns the owner's broadcasts (busMessages.ts), which
 * Redis may lose, and a reconnect or an owner change may repeat, into the committed updates
 * in log order, each delivered once (docs/cluster.md, "Messages between members").
 *
 * - The stream holds a position: the last log number delivered. A broadcast entirely at or
 *   below it is a duplicate and dropped; one that starts right after it is delivered (the
 *   part past the position, when it overlaps).
 * - A broadcast beyond the next number (a message was lost) or sent by reference makes the
 *   stream read the log after its position from PostgreSQL (readLog.ts). Broadcasts arriving
 *   meanwhile are held, then delivered or dropped against the position the read reached.
 *   Reads go on until the position reaches the highest number announced: everything
 *   announced is committed, so the log has it.
 * - A compaction may have deleted what the stream needs: the read then brings the snapshot,
 *   delivered as one update at the snapshot's number (`source: 'snapshot'`). It may repeat
 *   updates delivered already; Yjs updates are idempotent and commute, so applying it is
 *   correct, and the position moves to the snapshot's number.
 * - A loss with nothing after it (the document's last message, or every message while the
 *   relay was cut off from Redis) is invisible here: the caller calls `catchUp()` when its
 *   subscription was re-established (Bus `onResubscribed`), and an owner may announce its
 *   head now and then (a by-reference broadcast of one number).
 * A failed read is reported (`onError`) and tried again with backoff until `close()`.
 */
import type { Pool } from '../pg/openPool.js'
import type { Broadcast } from './busMessages.js'
import { type LogTail, readLogAfter } from './readLog.js'

/** Where a delivered update came from: the bus, the log in PostgreSQL, or a snapshot there. */
export type DeliverySource = 'bus' | 'log' | 'snapshot'

export interface RelayStreamOptions {
  /** The log number the caller's state already covers (0: none; the first read brings the whole document). @default 0 */
  after?: number
  /**
   * Called with each update in log order, once per number (a snapshot covers every number up
   * to `seq`). Synchronous: the next delivery may follow at once.
   */
  deliver: (update: Uint8Array, seq: number, source: DeliverySource) => void
  /** A read failed (it is tried again), or `deliver` threw. */
  onError?: (error: Error) => void
  /** Wait after a failed read, doubled after each further failure. @default 100 */
  retryMs?: number
  /** The longest wait between reads that fail. @default 5000 */
  retryMaxMs?: number
  /** Broadcasts held while a gap is filled, at most; further ones are left to the log. @default 1000 */
  maxHeld?: number
}

/** Counters of what the stream did, for metrics and tests. */
export interface RelayStreamStats {
  /** Updates delivered from broadcasts. */
  fromBus: number
  /** Updates delivered from the log. */
  fromLog: number
  /** Snapshots delivered. */
  snapshots: number
  /** Broadcasts dropped because everything they announced was delivered already. */
  duplicates: number
  /** Reads of the log started. */
  reads: number
}

export class RelayStream {
  readonly stats: RelayStreamStats = { fromBus: 0, fromLog: 0, snapshots: 0, duplicates: 0, reads: 0 }
  readonly #pool: Pool
  readonly #doc: string
  readonly #options: RelayStreamOptions
  #position: number
  /** The highest number announced: every number up to it is committed. */
  #known: number
  /** Broadcasts carrying updates beyond the position, by first number, until the gap before them is filled. */
  readonly #held = new Map<number, Broadcast>()
  /** A read was asked for regardless of `#known` (`catchUp`). */
  #forced = false
  #reading: Promise<void> | null = null
  #closed = false
  #wake: (() => void) | null = null
  #timer: NodeJS.Timeout | undefined

  constructor(pool: Pool, doc: string, options: RelayStreamOptions) {
    this.#pool = pool
    this.#doc = doc
    this.#options = options
    this.#position = this.#known = options.after ?? 0
  }

  /** The last log number delivered (or covered by the state the stream started from). */
  get position(): number {
    return this.#position
  }

  /** Takes a broadcast from the document's relay channel. */
  receive(broadcast: Broadcast): void {
    if (this.#closed) return
    this.#known = Math.max(this.#known, broadcast.last)
    if (broadcast.last <= this.#position) {
      this.stats.duplicates++
      return
    }
    if (broadcast.updates && broadcast.first <= this.#position + 1 && !this.#reading) {
      this.#deliverBroadcast(broadcast)
      this.#deliverHeld()
      return
    }
    if (broadcast.updates && this.#held.size < (this.#options.maxHeld ?? 1000) && !this.#held.has(broadcast.first))
      this.#held.set(broadcast.first, broadcast)
    this.#startReading()
  }

  /**
   * Reads the log after the position now, whatever was announced: after the subscription was
   * (re-)established, since messages published while it was not are lost without a trace.
   * Resolves once a read started after this call has been delivered (or the stream closed).
   */
  catchUp(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#forced = true
    return this.#startReading()
  }

  /** Stops delivering and reading; a read in flight is discarded. */
  close(): void {
    this.#closed = true
    this.#held.clear()
    clearTimeout(this.#timer)
    this.#wake?.()
  }

  #startReading(): Promise<void> {
    this.#reading ??= this.#readUntilCaughtUp().finally(() => {
      this.#reading = null
    })
    return this.#reading
  }

  async #readUntilCaughtUp(): Promise<void> {
    let failures = 0
    while (!this.#closed && (this.#forced || this.#position < this.#known)) {
      const forced = this.#forced
      this.#forced = false
      const before = this.#position
      let tail: LogTail
      this.stats.reads++
      try {
        tail = await readLogAfter(this.#pool, this.#doc, before)
      } catch (error) {
        this.#forced ||= forced
        this.#report(new Error(`reading the log of ${this.#doc} after ${before} failed: ${(error as Error).message}`))
        await this.#sleep(++failures)
        continue
      }
      if (this.#closed) return
      this.#deliverTail(tail)
      this.#deliverHeld()
      if (this.#position > before || this.#position >= this.#known) failures = 0
      else {
        this.#report(new Error(`the log of ${this.#doc} ends at ${this.#position}, but ${this.#known} was announced`))
        await this.#sleep(++failures)
      }
    }
  }

  #deliverTail(tail: LogTail): void {
    if (tail.snapshot && tail.snapshot.upto > this.#position) {
      this.#position = tail.snapshot.upto
      this.stats.snapshots++
      this.#deliver(tail.snapshot.data, tail.snapshot.upto, 'snapshot')
    }
    for (const { seq, data } of tail.updates) {
      // The log is read after the position, from one snapshot of the database, so it runs on
      // from there without a hole; a hole would be a bug elsewhere, left for the next read.
      if (seq !== this.#position + 1) break
      this.#position = seq
      this.stats.fromLog++
      this.#deliver(data, seq, 'log')
    }
  }

  /** Delivers the part of `broadcast` (carrying updates, starting at most one past the position) beyond the position. */
  #deliverBroadcast(broadcast: Broadcast): void {
    const updates = broadcast.updates!
    for (let seq = this.#position + 1; seq <= broadcast.last; seq++) {
      this.#position = seq
      this.stats.fromBus++
      this.#deliver(updates[seq - broadcast.first]!, seq, 'bus')
    }
  }

  #deliverHeld(): void {
    while (this.#held.size > 0) {
      let next: Broadcast | undefined
      for (const [first, broadcast] of this.#held) {
        if (broadcast.last <= this.#position) {
          this.#held.delete(first)
          this.stats.duplicates++
        } else if (first <= this.#position + 1) next = broadcast
      }
      if (!next) return
      this.#held.delete(next.first)
      this.#deliverBroadcast(next)
    }
  }

  #deliver(update: Uint8Array, seq: number, source: DeliverySource): void {
    try {
      this.#options.deliver(update, seq, source)
    } catch (error) {
      this.#report(error as Error)
    }
  }

  #report(error: Error): void {
    this.#options.onError?.(error)
  }

  #sleep(failures: number): Promise<void> {
    const ms = Math.min(this.#options.retryMaxMs ?? 5000, (this.#options.retryMs ?? 100) * 2 ** (failures - 1))
    return new Promise((resolve) => {
      this.#wake = resolve
      this.#timer = setTimeout(resolve, ms * (0.5 + Math.random() / 2))
    })
  }
}
