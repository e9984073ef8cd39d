/**
 * The calendar authority (docs/calendar.md): turns requested slots into
 * decisions.
 *
 * After a flush stored an event update that touched its slot (`start`, `end`,
 * `attendees`, `room`, `status`, or the deletion mark) — from a live editor, a REST
 * write or an offline editor reconnecting — the event's request is queued. The queue
 * hands requests to the ledger one at a time, in arrival order; each decision is one
 * ledger transaction, then mirrored into `authority.reservation` of the event document
 * with the `authority` origin (it is persisted by the next flush like any edit).
 *
 * The ledger is the truth; the documents mirror it. `reconcile()` at start-up re-decides
 * requests stored but never decided and rewrites decisions that never reached their
 * document (a crash between the two writes), so both agree after any restart. A mirror
 * whose write failed while the server runs (the document is dropped from memory with it)
 * is written again from the ledger, with backoff, until it lands.
 */
import { RetryLater, unavailableForNow } from './RetryLater.js'
import { type Reservation, isComplete } from '../../shared/collections.js'
import { authorityOf, readFields, readPlainMap } from '../../shared/docLayout.js'
import { recordDocName } from '../../shared/docNames.js'
import { PersistError } from '../sync/DocRegistry.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import type { PendingUpdate } from '../sync/Room.js'
import { AUTHORITY_ORIGIN, type StoredRecord } from './storedRecords.js'
import type { ReservationLedger } from './ReservationLedger.js'
import { RESERVATION, SLOT_KEYS, type SlotRequest, requestKey, reservationOf, sameReservation, slotRequestOf } from './slotRequest.js'

export type DecisionOutcome = 'confirmed' | 'conflict' | 'pending' | 'released'

export interface ReservationAuthorityOptions {
  registry: AccordRegistry
  ledger: ReservationLedger
  onError?: (error: unknown, context: string) => void
  /** Counts each outcome (metrics). */
  onDecision?: (outcome: DecisionOutcome) => void
}

/** First wait before a decision whose write failed is mirrored again; it doubles up to 30 s (RetryLater). */
export const MIRROR_RETRY_MS = 250

export class ReservationAuthority {
  private tail: Promise<unknown> = Promise.resolve()
  private closed = false
  /** Event documents waiting to be mirrored again, by document name. */
  private readonly remirrors = new RetryLater()
  /** Events whose decision failed for want of the database, by document: decided again later. */
  private readonly redecides = new RetryLater()
  /** An event's current request, read at its document's owner (maybe another cluster member): a call. */
  private readonly requestIn: (docName: string, args: { workspace: string; eventId: string }) => Promise<SlotRequest | null>
  /** Writes a decision into its event document at the document's owner: a call. */
  private readonly mirrorIn: (docName: string, args: { reservation: Reservation | null }) => Promise<void>

  constructor(private readonly options: ReservationAuthorityOptions) {
    this.requestIn = options.registry.defineCall('event.request', (room, { workspace, eventId }) => {
      const fields = readFields(room.doc, 'events')
      if (!isComplete('events', fields) || authorityOf(room.doc).get('deleted') !== undefined) return null
      return slotRequestOf(workspace, eventId, fields, readPlainMap(authorityOf(room.doc)))
    })
    this.mirrorIn = options.registry.defineCall('event.reservation', (room, { reservation }) => {
      const authority = authorityOf(room.doc)
      if (sameReservation(authority.get(RESERVATION), reservation)) return
      room.doc.transact(() => {
        if (reservation) authority.set(RESERVATION, reservation)
        else authority.delete(RESERVATION)
      }, AUTHORITY_ORIGIN)
    })
  }

  /** Waits until every queued decision is made and mirrored into its document. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined)
  }

  /** Stops taking requests and waits for the queue (call before the registry closes). */
  async close(): Promise<void> {
    this.closed = true
    this.remirrors.close()
    this.redecides.close()
    await this.idle()
  }

  /**
   * Decides an event's current request again, even if unchanged: how an owner retries a
   * request that is in `conflict`. Undefined when there is no such (live) event.
   */
  async retry(workspace: string, eventId: string): Promise<Reservation | null | undefined> {
    const request = await this.requestIn(recordDocName(workspace, 'events', eventId), { workspace, eventId })
    if (!request) return undefined
    return this.enqueue(request)
  }

  /** Brings the ledger and the stored event documents into agreement (start-up). */
  reconcile(events: readonly StoredRecord[]): Promise<void> {
    const checks = events.map((event) =>
      this.schedule(async () => {
        const request = slotRequestOf(event.workspace, event.id, event.fields, event.authority)
        const entry = await this.options.ledger.entry(event.workspace, event.id)
        if (!entry && !request.active && event.authority[RESERVATION] === undefined) return
        if (!entry || entry.requestKey !== requestKey(request)) await this.decide(request)
        else if (!sameReservation(event.authority[RESERVATION], entry.reservation))
          this.mirror(event.workspace, event.id, entry.reservation)
      }).catch(() => undefined),
    )
    return Promise.all(checks).then(() => undefined)
  }

  handleCommitted(room: AccordRoom, persisted: PendingUpdate[]): void {
    const name = room.name
    if (this.closed || name.kind !== 'record' || name.collection !== 'events') return
    const authority = authorityOf(room.doc)
    const fields = readFields(room.doc, 'events')
    // An event still lacking a required field is not one yet: nothing to decide, nothing to
    // release (one stored with a decision before this rule is released by `reconcile`).
    if (!isComplete('events', fields) && authority.get(RESERVATION) === undefined) return
    const request = slotRequestOf(name.workspace, name.id, fields, readPlainMap(authority))
    const undecided = request.active && authority.get(RESERVATION) === undefined
    // `undecided` without a slot change: the title came last, after start and end.
    if (!persisted.some(touchesSlot) && !undecided) return
    if (undecided) {
      room.doc.transact(() => authority.set(RESERVATION, reservationOf(request, 'pending', [])), AUTHORITY_ORIGIN)
      this.options.onDecision?.('pending')
    }
    this.enqueue(request).catch((error: unknown) => this.decideLater(name.workspace, name.id, error, MIRROR_RETRY_MS))
  }

  /**
   * Decides an event again after `delayMs` when its decision failed because the database could
   * not be reached (PostgreSQL restarting, a network cut): the event's current request, read
   * from its document then, so a change made meanwhile is what gets decided. Other failures
   * are not retried here (they are logged; the next start reconciles).
   */
  private decideLater(workspace: string, eventId: string, error: unknown, delayMs: number): void {
    if (!unavailableForNow(error)) return
    this.redecides.schedule(recordDocName(workspace, 'events', eventId), delayMs, (next) =>
      this.retry(workspace, eventId).catch((again: unknown) => this.decideLater(workspace, eventId, again, next)),
    )
  }

  private enqueue(request: SlotRequest): Promise<Reservation | null> {
    return this.schedule(() => this.decide(request))
  }

  /** Runs `task` after every task queued before it. */
  private schedule<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task)
    this.tail = run.catch((error: unknown) => this.options.onError?.(error, 'reservation decision'))
    return run
  }

  private async decide(request: SlotRequest): Promise<Reservation | null> {
    const decision = await this.options.ledger.decide(request)
    this.options.onDecision?.(decision.reservation?.status === 'confirmed' ? 'confirmed' : decision.reservation ? 'conflict' : 'released')
    this.mirror(request.workspace, request.eventId, decision.reservation)
    for (const { eventId, reservation } of decision.updated) this.mirror(request.workspace, eventId, reservation)
    return decision.reservation
  }

  /**
   * Writes a decision into its event document. The registry runs the writes to one document
   * in the order they are asked for (at once if it is loaded; forwarded in that order to the
   * member owning it), so documents receive decisions in the order they were made.
   */
  private mirror(workspace: string, eventId: string, reservation: Reservation | null, retryMs = MIRROR_RETRY_MS): void {
    const docName = recordDocName(workspace, 'events', eventId)
    this.mirrorIn(docName, { reservation }).catch((error: unknown) => {
      // The decision left memory with the dropped document; the ledger still holds it.
      if (error instanceof PersistError) this.mirrorLater(workspace, eventId, retryMs)
      this.options.onError?.(error, `reservation of ${docName}`)
    })
  }

  /** Mirrors the ledger's current decision for an event after `delayMs`, queued behind the decisions made by then. */
  private mirrorLater(workspace: string, eventId: string, delayMs: number): void {
    this.remirrors.schedule(recordDocName(workspace, 'events', eventId), delayMs, (next) =>
      this.schedule(async () => {
        const entry = await this.options.ledger.entry(workspace, eventId)
        this.mirror(workspace, eventId, entry?.reservation ?? null, next)
      }).catch(() => this.mirrorLater(workspace, eventId, next)),
    )
  }
}

/** Whether a stored update changed the slot (the server's own decisions never do). */
function touchesSlot(update: PendingUpdate): boolean {
  if (update.origin?.kind === 'server' && update.origin.reason === 'authority') return false
  return update.changed.some((part) => SLOT_KEYS.has(part))
}
