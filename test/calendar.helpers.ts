/**
 * Helpers of the calendar tests: events through REST and through providers, and the
 * checks that the ledger and the documents agree and never double-book.
 */
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { Reservation } from '../shared/collections.js'
import { authorityOf, fieldsOf } from '../shared/docLayout.js'
import type { AccordServer } from '../server/AccordServer.js'
import { requestKey, resourcesOf, sameReservation, slotRequestOf } from '../server/authority/slotRequest.js'
import { query } from './helpers/backends.js'
import type { Api } from './helpers/server.js'

export const BASE = Date.parse('2030-01-07T08:00:00Z')
export const MIN = 60_000
export const iso = (ms: number) => new Date(ms).toISOString()

export interface Slot {
  start: number
  end: number
  attendees?: string[]
  room?: string
}

export function slotFields(slot: Slot) {
  return { start: iso(slot.start), end: iso(slot.end), attendees: slot.attendees ?? [], room: slot.room ?? '' }
}

export async function createEvent(api: Api, slot: Slot, title = 'Meeting'): Promise<string> {
  const res = await api.request('POST', '/api/records/events', { title, ...slotFields(slot) })
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.id as string
}

/** A provider on an event document, with `disableBc` as given (tabs share a BroadcastChannel). */
export function eventProvider(
  wsUrl: string,
  docName: string,
  token: string,
  options: { connect?: boolean; bc?: boolean; doc?: Y.Doc } = {},
): WebsocketProvider {
  return new WebsocketProvider(`${wsUrl}/sync`, docName, options.doc ?? new Y.Doc(), {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: options.connect ?? true,
    disableBc: !options.bc,
    maxBackoffTime: 200,
  })
}

export function setSlot(doc: Y.Doc, slot: Slot, extra: Record<string, unknown> = {}): void {
  doc.transact(() => {
    const fields = fieldsOf(doc)
    for (const [key, value] of Object.entries({ ...extra, ...slotFields(slot) })) fields.set(key, value)
  })
}

export const reservationIn = (doc: Y.Doc) => authorityOf(doc).get('reservation') as Reservation | undefined
export const decided = (doc: Y.Doc) => ['confirmed', 'conflict'].includes(reservationIn(doc)?.status ?? '')

interface StoredEvent {
  id: string
  fields: Record<string, unknown>
  authority: Record<string, unknown>
  deleted: number
}

/** The events of a workspace as stored in the records table, on either backend. */
export async function storedEvents(server: AccordServer, workspace: string, ids?: readonly string[]): Promise<StoredEvent[]> {
  const rows = await query<{ id: string; fields: string; authority: string; deleted: number }>(
    server,
    "SELECT id, fields, authority, deleted FROM records WHERE workspace = ? AND collection = 'events' ORDER BY id",
    [workspace],
  )
  const wanted = ids ? new Set(ids) : null
  return rows
    .filter((r) => !wanted || wanted.has(r.id))
    .map((r) => ({ id: r.id, fields: JSON.parse(r.fields), authority: JSON.parse(r.authority), deleted: r.deleted }))
}

/** Every stored event's decision matches its current request, and the ledger holds the same decision. */
export async function settled(server: AccordServer, workspace: string, ids?: readonly string[]): Promise<boolean> {
  await server.reservations.idle()
  for (const event of await storedEvents(server, workspace, ids)) {
    const request = slotRequestOf(workspace, event.id, event.fields, event.authority)
    const entry = await server.ledger.entry(workspace, event.id)
    if (!entry) {
      if (request.active) return false
      continue
    }
    if (entry.requestKey !== requestKey(request)) return false
    if (!sameReservation(event.authority.reservation, entry.reservation)) return false
  }
  return true
}

/** Pairs of confirmed events (in the stored documents) that share a resource and overlap. */
export async function doubleBookings(server: AccordServer, workspace: string, ids?: readonly string[]): Promise<string[]> {
  const confirmed = (await storedEvents(server, workspace, ids))
    .filter((e) => (e.authority.reservation as Reservation | undefined)?.status === 'confirmed')
    .map((e) => {
      const r = e.authority.reservation as Reservation
      const request = slotRequestOf(workspace, e.id, e.fields, e.authority)
      return { id: e.id, start: Date.parse(r.start), end: Date.parse(r.end), resources: new Set(resourcesOf(request)) }
    })
  const clashes: string[] = []
  for (let i = 0; i < confirmed.length; i++) {
    for (let j = i + 1; j < confirmed.length; j++) {
      const a = confirmed[i]!
      const b = confirmed[j]!
      const shared = [...a.resources].some((r) => b.resources.has(r))
      if (shared && a.start < b.end && b.start < a.end) clashes.push(`${a.id} x ${b.id}`)
    }
  }
  return clashes
}

/**
 * Overlapping confirmed rows of one resource in the ledger table itself (on PostgreSQL a
 * slot is a `tstzrange`, `held` a boolean, and an exclusion constraint forbids the overlap).
 */
export async function ledgerDoubleBookings(server: AccordServer): Promise<number> {
  const overlap =
    server.backend.kind === 'postgres'
      ? 'a.held AND b.held AND a.during && b.during'
      : 'a.held = 1 AND b.held = 1 AND a.start_ms < b.end_ms AND b.start_ms < a.end_ms'
  const [row] = await query<{ n: number | string }>(
    server,
    `SELECT COUNT(*) AS n FROM reservation_slots a JOIN reservation_slots b
     ON a.workspace = b.workspace AND a.resource = b.resource AND a.event_id < b.event_id
     WHERE ${overlap}`,
  )
  return Number(row!.n)
}
