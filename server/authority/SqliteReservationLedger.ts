/**
 * The embedded reservation ledger (see ReservationLedger.ts for the contract).
 *
 * `reservation_slots` holds one row per (event, resource) for every active request:
 * `held = 1` when the event is confirmed (it owns the interval), `held = 0` when it
 * waits in conflict. A trigger refuses two overlapping held rows of one resource, the
 * SQLite stand-in for PostgreSQL's exclusion constraint, so even a bug in the decision
 * code cannot confirm a double booking. `reservations` keeps the last decision per event.
 */
import type { Reservation } from '../../shared/collections.js'
import type { Db } from '../store/openDatabase.js'
import { type LedgerDecision, type LedgerEntry, type ReservationLedger, ledgerEntryOf } from './ReservationLedger.js'
import { type Interval, type SlotRequest, isoOf, requestKey, reservationOf, resourcesOf } from './slotRequest.js'

type Status = 'confirmed' | 'conflict' | 'released'

interface ReservationRow {
  event_id: string
  request: string
  status: Status
  start_ms: number
  end_ms: number
  conflicts_with: string
}

interface SlotRow {
  resource: string
  event_id: string
  held: number
  start_ms: number
  end_ms: number
}

export class SqliteReservationLedger implements ReservationLedger {
  private readonly statements

  constructor(private readonly db: Db) {
    this.statements = {
      slotsOf: db.prepare<[string, string], SlotRow>(
        'SELECT resource, event_id, held, start_ms, end_ms FROM reservation_slots WHERE workspace = ? AND event_id = ?',
      ),
      deleteSlots: db.prepare<[string, string]>('DELETE FROM reservation_slots WHERE workspace = ? AND event_id = ?'),
      insertSlot: db.prepare<[string, string, string, number, number, number]>(
        'INSERT INTO reservation_slots (workspace, resource, event_id, held, start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      overlapping: db.prepare<[string, string, number, number, number, string], { event_id: string }>(
        `SELECT DISTINCT event_id FROM reservation_slots
         WHERE workspace = ? AND resource = ? AND held = ? AND start_ms < ? AND end_ms > ? AND event_id != ?`,
      ),
      busy: db.prepare<[string, string, number, number, string], Interval>(
        `SELECT start_ms AS start, end_ms AS end FROM reservation_slots
         WHERE workspace = ? AND resource = ? AND held = 1 AND start_ms < ? AND end_ms > ? AND event_id != ?`,
      ),
      entry: db.prepare<[string, string], ReservationRow>('SELECT * FROM reservations WHERE workspace = ? AND event_id = ?'),
      entries: db.prepare<[string], ReservationRow>('SELECT * FROM reservations WHERE workspace = ? ORDER BY event_id'),
      upsert: db.prepare<[string, string, string, Status, number, number, string, number]>(
        `INSERT INTO reservations (workspace, event_id, request, status, start_ms, end_ms, conflicts_with, decided_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace, event_id) DO UPDATE SET request = excluded.request, status = excluded.status,
           start_ms = excluded.start_ms, end_ms = excluded.end_ms, conflicts_with = excluded.conflicts_with, decided_at = excluded.decided_at`,
      ),
      setConflicts: db.prepare<[string, string, string]>('UPDATE reservations SET conflicts_with = ? WHERE workspace = ? AND event_id = ?'),
    }
  }

  decide(request: SlotRequest): Promise<LedgerDecision> {
    return Promise.resolve(this.decideNow(request))
  }

  /** `decide`, synchronously: one IMMEDIATE transaction. */
  decideNow(request: SlotRequest): LedgerDecision {
    return this.db.transaction(() => this.decideIn(request)).immediate()
  }

  entry(workspace: string, eventId: string): Promise<LedgerEntry | undefined> {
    const row = this.statements.entry.get(workspace, eventId)
    return Promise.resolve(row ? toEntry(row) : undefined)
  }

  entries(workspace: string): Promise<LedgerEntry[]> {
    return Promise.resolve(this.statements.entries.all(workspace).map(toEntry))
  }

  busy(workspace: string, resources: readonly string[], window: Interval, excludeEventId = ''): Promise<Interval[]> {
    const intervals: Interval[] = []
    for (const resource of new Set(resources))
      intervals.push(...this.statements.busy.all(workspace, resource, window.end, window.start, excludeEventId))
    return Promise.resolve(intervals)
  }

  private decideIn(request: SlotRequest): LedgerDecision {
    const { workspace, eventId } = request
    const before = this.statements.slotsOf.all(workspace, eventId)
    this.statements.deleteSlots.run(workspace, eventId)
    let reservation: Reservation | null = null
    let status: Status = 'released'
    let conflictsWith: string[] = []
    const resources = request.active ? resourcesOf(request) : []
    if (request.active) {
      conflictsWith = this.blockers(workspace, eventId, resources, request)
      status = conflictsWith.length === 0 ? 'confirmed' : 'conflict'
      for (const resource of resources) {
        this.statements.insertSlot.run(workspace, resource, eventId, status === 'confirmed' ? 1 : 0, request.start, request.end)
      }
      reservation = reservationOf(request, status, conflictsWith)
    }
    this.statements.upsert.run(
      workspace,
      eventId,
      requestKey(request),
      status,
      request.start,
      request.end,
      JSON.stringify(conflictsWith),
      Date.now(),
    )
    const changedHeld = before.filter((slot) => slot.held === 1)
    if (status === 'confirmed')
      for (const resource of resources)
        changedHeld.push({ resource, event_id: eventId, held: 1, start_ms: request.start, end_ms: request.end })
    return { reservation, updated: this.refreshWaiting(workspace, eventId, changedHeld) }
  }

  /** Events holding a confirmed slot that overlaps the request on one of its resources. */
  private blockers(workspace: string, eventId: string, resources: string[], interval: Interval): string[] {
    const ids = new Set<string>()
    for (const resource of resources) {
      for (const row of this.statements.overlapping.all(workspace, resource, 1, interval.end, interval.start, eventId))
        ids.add(row.event_id)
    }
    return [...ids].sort()
  }

  /**
   * Recomputes `conflictsWith` of the events waiting for any of the slots that were just
   * freed or taken. Their status stays `conflict`: an empty list tells their owner the
   * slot is free now, and a retry (any new request) will confirm it.
   */
  private refreshWaiting(workspace: string, eventId: string, changed: SlotRow[]): LedgerDecision['updated'] {
    const waiting = new Set<string>()
    for (const slot of changed) {
      for (const row of this.statements.overlapping.all(workspace, slot.resource, 0, slot.end_ms, slot.start_ms, eventId))
        waiting.add(row.event_id)
    }
    const updated: LedgerDecision['updated'] = []
    for (const id of [...waiting].sort()) {
      const row = this.statements.entry.get(workspace, id)
      if (row?.status !== 'conflict') continue
      const slots = this.statements.slotsOf.all(workspace, id)
      const now = this.blockers(
        workspace,
        id,
        slots.map((s) => s.resource),
        { start: row.start_ms, end: row.end_ms },
      )
      if (JSON.stringify(now) === row.conflicts_with) continue
      this.statements.setConflicts.run(JSON.stringify(now), workspace, id)
      updated.push({
        eventId: id,
        reservation: { status: 'conflict', start: isoOf(row.start_ms), end: isoOf(row.end_ms), conflictsWith: now },
      })
    }
    return updated
  }
}

function toEntry(row: ReservationRow): LedgerEntry {
  return ledgerEntryOf({
    eventId: row.event_id,
    requestKey: row.request,
    status: row.status,
    startMs: row.start_ms,
    endMs: row.end_ms,
    conflictsWith: JSON.parse(row.conflicts_with) as string[],
  })
}
