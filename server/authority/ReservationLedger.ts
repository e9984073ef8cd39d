/**
 * The reservation ledger: which event holds which slot of which resource
 * (docs/calendar.md).
 *
 * Two implementations, one contract suite (test/ledger.contract.test.ts): the embedded
 * `SqliteReservationLedger`, and `PgReservationLedger`, where the database itself enforces
 * the invariant with an exclusion constraint (server/pg/migrations.ts):
 *
 * ```sql
 * EXCLUDE USING gist (workspace WITH =, resource WITH =, during WITH &&) WHERE (held)
 * ```
 * so two server instances deciding at once can never both confirm an overlap: the second
 * `decide` transaction fails the constraint and sees a conflict. Methods return promises
 * so that such an implementation fits; callers must still call `decide` one request at a
 * time, in arrival order.
 */
import type { Reservation } from '../../shared/collections.js'
import { type Interval, type SlotRequest, isoOf } from './slotRequest.js'

export interface LedgerDecision {
  /** The event's reservation now; null when the request is inactive (the event holds nothing). */
  reservation: Reservation | null
  /**
   * Other events waiting in `conflict` whose `conflictsWith` changed because this
   * decision freed or took a slot they want. They stay in `conflict`: a waiting event
   * is never confirmed without its own new request.
   */
  updated: { eventId: string; reservation: Reservation }[]
}

export interface LedgerEntry {
  eventId: string
  /** `requestKey()` of the request last decided. */
  requestKey: string
  reservation: Reservation | null
}

export interface ReservationLedger {
  /**
   * Decides one request atomically: frees whatever the event held or waited for, then
   * confirms the request if no other event holds a confirmed, overlapping slot of any of
   * its resources, else records it as `conflict` naming those events. Deciding an
   * unchanged, confirmed request again keeps it confirmed; deciding an unchanged
   * conflicting one again is a retry.
   */
  decide(request: SlotRequest): Promise<LedgerDecision>
  /** The last decision for an event, if any. */
  entry(workspace: string, eventId: string): Promise<LedgerEntry | undefined>
  /** Every decision of a workspace. */
  entries(workspace: string): Promise<LedgerEntry[]>
  /**
   * The confirmed intervals of any of `resources` that overlap `window`, leaving out
   * those held by `excludeEventId` (the event being moved).
   */
  busy(workspace: string, resources: readonly string[], window: Interval, excludeEventId?: string): Promise<Interval[]>
}

/** A stored decision as an entry: a `released` one holds nothing (its reservation is null). */
export function ledgerEntryOf(stored: {
  eventId: string
  requestKey: string
  status: 'confirmed' | 'conflict' | 'released'
  startMs: number | null
  endMs: number | null
  conflictsWith: string[]
}): LedgerEntry {
  const { status, startMs, endMs } = stored
  const reservation: Reservation | null =
    status === 'released' || startMs === null || endMs === null
      ? null
      : { status, start: isoOf(startMs), end: isoOf(endMs), conflictsWith: stored.conflictsWith }
  return { eventId: stored.eventId, requestKey: stored.requestKey, reservation }
}
