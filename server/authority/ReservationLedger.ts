/**
 * The reservation ledger: which event holds which slot of which resource
 * (docs/calendar.md).
 *
 * The embedded implementation is SQLite (`SqliteReservationLedger`). A PostgreSQL
 * implementation keeps this interface and lets the database enforce the invariant:
 *
 * ```sql
 * CREATE TABLE reservation_slots (
 *   workspace text, resource text, event_id text, held boolean,
 *   during tstzrange,             -- '[start,end)'
 *   EXCLUDE USING gist (workspace WITH =, resource WITH =, during WITH &&) WHERE (held)
 * );
 * ```
 * so two server instances deciding at once can never both confirm an overlap: the
 * second `decide` transaction fails the constraint and is retried, then sees a
 * conflict. Methods return promises so that such an implementation fits; callers
 * must still call `decide` one request at a time, in arrival order.
 */
import type { Reservation } from '../../shared/collections.js'
import type { Interval, SlotRequest } from './slotRequest.js'

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
