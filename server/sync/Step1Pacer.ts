/**
 * Sync step-1 replies of one room, paced by each connection's byte budget (`Peer.replyBudget`).
 *
 * Defends against a client asking again and again for the whole of a large document (step 1
 * with an empty state vector): the server encoded and sent it every time, three sockets pulled
 * 339 MB in 2 s and a healthy client's worst latency rose tenfold. A reply over budget waits; it
 * is never dropped (the client needs it to sync). Step 1s that arrive while a reply waits join
 * it: one reply answers them all, from what the least of their state vectors knows, so a peer
 * never has more than one reply waiting.
 */
import type { Peer } from './types.js'

/** A state vector: the next clock the sender expects from each client. */
export type StateVector = Map<number, number>

interface Waiting {
  known: StateVector
  /** The reply, if encoded for `known` already (a later, less informed step 1 discards it). */
  reply: Uint8Array | null
  timer: NodeJS.Timeout
}

export class Step1Pacer {
  private readonly waiting = new Map<Peer, Waiting>()

  /**
   * @param encode the reply to a step 1 that knows `known`
   * @param send hands a reply within budget on to the peer
   */
  constructor(
    private readonly encode: (known: StateVector) => Uint8Array,
    private readonly send: (peer: Peer, reply: Uint8Array) => void,
  ) {}

  /** A step 1 from `peer`: answered now if its budget allows, else once it does. */
  request(peer: Peer, known: StateVector): void {
    const waiting = this.waiting.get(peer)
    if (waiting) {
      if (!knowsAll(known, waiting.known)) {
        waiting.known = leastKnown(waiting.known, known)
        waiting.reply = null
      }
      return
    }
    this.answer(peer, known, null)
  }

  private answer(peer: Peer, known: StateVector, encoded: Uint8Array | null): void {
    const reply = encoded ?? this.encode(known)
    const waitMs = peer.replyBudget.msUntil(reply.byteLength)
    if (waitMs > 0) {
      this.waiting.set(peer, { known, reply, timer: setTimeout(() => this.release(peer), waitMs) })
      return
    }
    peer.replyBudget.take(reply.byteLength)
    this.send(peer, reply)
  }

  private release(peer: Peer): void {
    const waiting = this.waiting.get(peer)
    if (!waiting) return
    this.waiting.delete(peer)
    this.answer(peer, waiting.known, waiting.reply)
  }

  /** The peer left: its waiting reply goes with it. */
  forget(peer: Peer): void {
    const waiting = this.waiting.get(peer)
    if (waiting) clearTimeout(waiting.timer)
    this.waiting.delete(peer)
  }

  dispose(): void {
    for (const { timer } of this.waiting.values()) clearTimeout(timer)
    this.waiting.clear()
  }
}

/** Whether `a` knows at least what `b` knows, for every client. */
export function knowsAll(a: StateVector, b: StateVector): boolean {
  for (const [client, clock] of b) if ((a.get(client) ?? 0) < clock) return false
  return true
}

/** What both know: per client, the lower clock (a client one of them lacks, neither knows). */
export function leastKnown(a: StateVector, b: StateVector): StateVector {
  const least: StateVector = new Map()
  for (const [client, clock] of a) {
    const other = b.get(client)
    if (other !== undefined) least.set(client, Math.min(clock, other))
  }
  return least
}
