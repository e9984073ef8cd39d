/**
 * The reservation ledger on PostgreSQL (see ReservationLedger.ts for the contract; it
 * behaves exactly as `SqliteReservationLedger`, and one contract suite runs against both).
 *
 * The database keeps the invariant: `reservation_slots` has an exclusion constraint
 * (server/pg/migrations.ts) refusing two overlapping held slots of one resource, so two
 * processes deciding at once can never both confirm an overlap, whatever the code does.
 * Each decision is one short READ COMMITTED transaction:
 *
 * - an exclusion violation (`23P01`) while taking the slots means another transaction
 *   confirmed an overlap first: the decision goes back to its savepoint, reads the holders
 *   (committed by then: the constraint waited for them) and records a conflict naming them;
 * - a deadlock (`40P01`) or serialization failure (`40001`) retries the whole transaction
 *   after a jittered backoff, a bounded number of times;
 * - a lost connection leaves the outcome unknown if it happened at COMMIT. Every call has
 *   its own decision key, stored with the decision: the ledger looks it up on a new
 *   connection and returns the stored decision if it landed, or decides again if not.
 */
import { randomUUID } from 'node:crypto'
import type { Reservation } from '../../shared/collections.js'
import { ADVISORY_LOCK } from '../pg/advisoryLocks.js'
import { inTransaction } from '../pg/inTransaction.js'
import type { Pool, PoolClient } from '../pg/openPool.js'
import { RETRY_CODES, backoff, outcomeUnknown, queryTimedOut, sqlState } from '../pg/retry.js'
import { type LedgerDecision, type LedgerEntry, type ReservationLedger, ledgerEntryOf } from './ReservationLedger.js'
import { type Interval, type SlotRequest, isoOf, requestKey, reservationOf, resourcesOf } from './slotRequest.js'

export interface PgLedgerOptions {
  /** Tries of one decision (deadlocks, serialization failures, lost connections) before its error is thrown. @default 8 */
  maxAttempts?: number
  /** Backoff before the second try, doubled for each later one, with full jitter. @default 5 */
  backoffMs?: number
}

type Status = 'confirmed' | 'conflict' | 'released'

interface ReservationRow {
  event_id: string
  request: string
  status: Status
  start_ms: number | null
  end_ms: number | null
  conflicts_with: string[]
  updated: LedgerDecision['updated']
}

interface SlotRow {
  resource: string
  held: boolean
  start_ms: number
  end_ms: number
}

const EXCLUSION_VIOLATION = '23P01'
/** Confirm attempts within one transaction when holders keep vanishing between the check and the insert. */
const MAX_CONFIRM_ROUNDS = 5

const MS = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`
const RANGE = (start: string, end: string) => `tstzrange(${start}::timestamptz, ${end}::timestamptz, '[)')`

const SQL = {
  lockWorkspace: 'SELECT pg_advisory_xact_lock($1, hashtext($2))',
  deleteSlots: `DELETE FROM reservation_slots WHERE workspace = $1 AND event_id = $2
    RETURNING resource, held, ${MS('lower(during)')} AS start_ms, ${MS('upper(during)')} AS end_ms`,
  insertSlots: `INSERT INTO reservation_slots (workspace, resource, event_id, held, during)
    SELECT $1, r, $2, $3, ${RANGE('$4', '$5')} FROM unnest($6::text[]) AS r`,
  holders: `SELECT DISTINCT event_id FROM reservation_slots
    WHERE workspace = $1 AND resource = ANY($2::text[]) AND held AND during && ${RANGE('$3', '$4')} AND event_id <> $5`,
  waiting: `SELECT DISTINCT s.event_id FROM reservation_slots s
    JOIN unnest($3::text[], $4::timestamptz[], $5::timestamptz[]) AS c(resource, start_at, end_at)
      ON s.resource = c.resource AND s.during && tstzrange(c.start_at, c.end_at, '[)')
    WHERE s.workspace = $1 AND NOT s.held AND s.event_id <> $2`,
  resourcesOf: 'SELECT resource FROM reservation_slots WHERE workspace = $1 AND event_id = $2',
  busy: `SELECT ${MS('lower(during)')} AS start, ${MS('upper(during)')} AS "end" FROM reservation_slots
    WHERE workspace = $1 AND resource = ANY($2::text[]) AND held AND during && ${RANGE('$3', '$4')} AND event_id <> $5`,
  row: `SELECT event_id, request, status, ${MS('start_at')} AS start_ms, ${MS('end_at')} AS end_ms, conflicts_with, updated
    FROM reservations WHERE workspace = $1`,
  upsert: `INSERT INTO reservations (workspace, event_id, request, decision_key, status, start_at, end_at, conflicts_with, updated, decided_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
    ON CONFLICT (workspace, event_id) DO UPDATE SET request = excluded.request, decision_key = excluded.decision_key,
      status = excluded.status, start_at = excluded.start_at, end_at = excluded.end_at,
      conflicts_with = excluded.conflicts_with, updated = excluded.updated, decided_at = excluded.decided_at`,
  setConflicts: 'UPDATE reservations SET conflicts_with = $3 WHERE workspace = $1 AND event_id = $2',
} as const

export class PgReservationLedger implements ReservationLedger {
  private readonly maxAttempts: number
  private readonly backoffMs: number

  /** The pool stays the caller's to end. */
  constructor(
    private readonly pool: Pool,
    options: PgLedgerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8
    this.backoffMs = options.backoffMs ?? 5
  }

  async decide(request: SlotRequest): Promise<LedgerDecision> {
    const key = randomUUID()
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.pool, (client) => this.decideIn(client, request, key))
      } catch (error) {
        // A query that timed out means a server that hangs: trying again would wait as long
        // again. The authority retries the request later; the decision key settles the outcome.
        if (attempt >= this.maxAttempts || queryTimedOut(error) || !(RETRY_CODES.has(sqlState(error)) || outcomeUnknown(error))) throw error
        if (outcomeUnknown(error)) {
          const landed = await this.landed(request, key).catch(() => undefined)
          if (landed) return landed
        }
        await backoff(attempt, this.backoffMs)
      }
    }
  }

  async entry(workspace: string, eventId: string): Promise<LedgerEntry | undefined> {
    const { rows } = await this.pool.query<ReservationRow>({
      name: 'ledger-entry',
      text: `${SQL.row} AND event_id = $2`,
      values: [workspace, eventId],
    })
    return rows[0] && toEntry(rows[0])
  }

  async entries(workspace: string): Promise<LedgerEntry[]> {
    // COLLATE "C": code-point order, as SQLite's and JavaScript's default sort.
    const { rows } = await this.pool.query<ReservationRow>({
      name: 'ledger-entries',
      text: `${SQL.row} ORDER BY event_id COLLATE "C"`,
      values: [workspace],
    })
    return rows.map(toEntry)
  }

  async busy(workspace: string, resources: readonly string[], window: Interval, excludeEventId = ''): Promise<Interval[]> {
    const { rows } = await this.pool.query<Interval>({
      name: 'ledger-busy',
      text: SQL.busy,
      values: [workspace, [...new Set(resources)], isoOf(window.start), isoOf(window.end), excludeEventId],
    })
    return rows
  }

  /** The decision made by the call with `key`, if its transaction committed. */
  private async landed(request: SlotRequest, key: string): Promise<LedgerDecision | undefined> {
    const { rows } = await this.pool.query<ReservationRow>(`${SQL.row} AND event_id = $2 AND decision_key = $3`, [
      request.workspace,
      request.eventId,
      key,
    ])
    return rows[0] && { reservation: toEntry(rows[0]).reservation, updated: rows[0].updated }
  }

  private async decideIn(client: PoolClient, request: SlotRequest, key: string): Promise<LedgerDecision> {
    const { workspace, eventId } = request
    // One decision of a workspace at a time, in every process. Without it two decisions of one
    // event would both read its old slots, and decisions of different events deadlock often:
    // each waits on the other's uncommitted slot in the exclusion index, or on a waiting
    // event's row both update (50 connections: over half of the decisions in a round lost one
    // and waited a second for PostgreSQL to find it). Decisions are a few milliseconds and
    // made at the pace people book, so a workspace's queue stays short; the exclusion
    // constraint still refuses any double booking, lock or not.
    await client.query({ name: 'ledger-lock', text: SQL.lockWorkspace, values: [ADVISORY_LOCK.reservationWorkspace, workspace] })
    const before = (await client.query<SlotRow>({ name: 'ledger-delete', text: SQL.deleteSlots, values: [workspace, eventId] })).rows
    let reservation: Reservation | null = null
    let status: Status = 'released'
    let conflictsWith: string[] = []
    // Sorted: concurrent decisions take the same resources in the same order, fewer deadlocks.
    const resources = request.active ? [...new Set(resourcesOf(request))].sort() : []
    if (request.active) {
      ;({ status, conflictsWith } = await this.take(client, request, resources))
      reservation = reservationOf(request, status, conflictsWith)
    }
    const changedHeld = before.filter((slot) => slot.held)
    if (status === 'confirmed')
      for (const resource of resources) changedHeld.push({ resource, held: true, start_ms: request.start, end_ms: request.end })
    const updated = await this.refreshWaiting(client, workspace, eventId, changedHeld)
    await client.query({
      name: 'ledger-upsert',
      text: SQL.upsert,
      values: [
        workspace,
        eventId,
        requestKey(request),
        key,
        status,
        request.active ? isoOf(request.start) : null,
        request.active ? isoOf(request.end) : null,
        conflictsWith,
        JSON.stringify(updated),
      ],
    })
    return { reservation, updated }
  }

  /**
   * Confirms the request's slots if nobody holds an overlap, else records them as waiting.
   * Between reading the holders and inserting, another transaction may confirm an overlap:
   * the exclusion constraint then refuses the insert, which is a conflict with it.
   */
  private async take(
    client: PoolClient,
    request: SlotRequest,
    resources: string[],
  ): Promise<{ status: 'confirmed' | 'conflict'; conflictsWith: string[] }> {
    const insert = (held: boolean) =>
      client.query({
        name: 'ledger-insert',
        text: SQL.insertSlots,
        values: [request.workspace, request.eventId, held, isoOf(request.start), isoOf(request.end), resources],
      })
    for (let round = 1; ; round++) {
      const holders = await this.holders(client, request.workspace, request.eventId, resources, request)
      if (holders.length > 0) {
        await insert(false)
        return { status: 'conflict', conflictsWith: holders }
      }
      await client.query('SAVEPOINT take_slots')
      try {
        await insert(true)
        await client.query('RELEASE SAVEPOINT take_slots')
        return { status: 'confirmed', conflictsWith: [] }
      } catch (error) {
        if (sqlState(error) !== EXCLUSION_VIOLATION || round >= MAX_CONFIRM_ROUNDS) throw error
        await client.query('ROLLBACK TO SAVEPOINT take_slots')
      }
    }
  }

  /** Events holding a confirmed slot that overlaps `interval` on one of `resources`, sorted by code point. */
  private async holders(client: PoolClient, workspace: string, eventId: string, resources: string[], interval: Interval) {
    if (resources.length === 0) return []
    const { rows } = await client.query<{ event_id: string }>({
      name: 'ledger-holders',
      text: SQL.holders,
      values: [workspace, resources, isoOf(interval.start), isoOf(interval.end), eventId],
    })
    return rows.map((row) => row.event_id).sort()
  }

  /**
   * Recomputes `conflictsWith` of the events waiting for any of the slots that were just
   * freed or taken. Their status stays `conflict`: an empty list tells their owner the slot
   * is free now, and a retry (any new request) will confirm it.
   */
  private async refreshWaiting(
    client: PoolClient,
    workspace: string,
    eventId: string,
    changed: SlotRow[],
  ): Promise<LedgerDecision['updated']> {
    if (changed.length === 0) return []
    const { rows: waiting } = await client.query<{ event_id: string }>({
      name: 'ledger-waiting',
      text: SQL.waiting,
      values: [
        workspace,
        eventId,
        changed.map((slot) => slot.resource),
        changed.map((slot) => isoOf(slot.start_ms)),
        changed.map((slot) => isoOf(slot.end_ms)),
      ],
    })
    const updated: LedgerDecision['updated'] = []
    for (const id of waiting.map((row) => row.event_id).sort()) {
      const { rows } = await client.query<ReservationRow>({
        name: 'ledger-row-for-update',
        text: `${SQL.row} AND event_id = $2 FOR UPDATE`,
        values: [workspace, id],
      })
      const row = rows[0]
      if (row?.status !== 'conflict' || row.start_ms === null || row.end_ms === null) continue
      const slots = await client.query<{ resource: string }>({ name: 'ledger-resources', text: SQL.resourcesOf, values: [workspace, id] })
      const now = await this.holders(
        client,
        workspace,
        id,
        slots.rows.map((slot) => slot.resource),
        { start: row.start_ms, end: row.end_ms },
      )
      if (JSON.stringify(now) === JSON.stringify(row.conflicts_with)) continue
      await client.query({ name: 'ledger-set-conflicts', text: SQL.setConflicts, values: [workspace, id, now] })
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
    conflictsWith: row.conflicts_with,
  })
}
