/**
 * What an event document asks for: its requested slot, read from the ordinary CRDT
 * fields. Pure: no I/O.
 *
 *   resource := "attendee:" userId | "room:" roomName
 *
 * Two events conflict when they share a resource and their half-open intervals
 * `[start, end)` overlap (docs/api.md, "Collections").
 */
import { type FieldValues, type Reservation, instant, isComplete } from '../../shared/collections.js'

/** The event fields (and authority keys) whose change makes the server decide again. */
export const SLOT_KEYS: ReadonlySet<string> = new Set(['start', 'end', 'attendees', 'room', 'status', 'authority.deleted'])

/** The authority key holding the decision. */
export const RESERVATION = 'reservation'

/** One event's requested slot. */
export interface SlotRequest {
  workspace: string
  eventId: string
  /**
   * Whether the event asks for a slot at all: false when it is cancelled, deleted, lacks
   * a required field (not a record yet: nobody could see what it holds), or has no valid
   * interval (it then holds nothing and waits for nothing).
   */
  active: boolean
  /** Milliseconds since the epoch (UTC); 0 when inactive. */
  start: number
  end: number
  /** Sorted, without duplicates. */
  attendees: string[]
  /** '' for no room. */
  room: string
}

export interface Interval {
  /** Milliseconds since the epoch, inclusive. */
  start: number
  /** Milliseconds since the epoch, exclusive. */
  end: number
}

/** Reads the requested slot of an event from its fields and authority map. */
export function slotRequestOf(workspace: string, eventId: string, fields: FieldValues, authority: FieldValues): SlotRequest {
  const start = instantMs(fields.start)
  const end = instantMs(fields.end)
  const attendees = Array.isArray(fields.attendees)
    ? [...new Set(fields.attendees.filter((a): a is string => typeof a === 'string' && a !== ''))].sort()
    : []
  const room = typeof fields.room === 'string' ? fields.room.trim() : ''
  const active =
    start !== null &&
    end !== null &&
    start < end &&
    fields.status !== 'cancelled' &&
    authority.deleted === undefined &&
    isComplete('events', fields)
  if (!active) return { workspace, eventId, active: false, start: 0, end: 0, attendees: [], room: '' }
  return { workspace, eventId, active, start, end, attendees, room }
}

/** A canonical string of a request: equal keys ask for exactly the same slot. */
export function requestKey(request: SlotRequest): string {
  if (!request.active) return 'inactive'
  return JSON.stringify([request.start, request.end, request.attendees, request.room])
}

/** The resources a request needs: each attendee and the room. */
export function resourcesOf(request: Pick<SlotRequest, 'attendees' | 'room'>): string[] {
  const resources = request.attendees.map(attendeeResource)
  if (request.room !== '') resources.push(roomResource(request.room))
  return resources
}

export const attendeeResource = (userId: string) => `attendee:${userId}`
export const roomResource = (room: string) => `room:${room.trim().toLowerCase()}`

/** The decision document value for a request. */
export function reservationOf(request: SlotRequest, status: Reservation['status'], conflictsWith: string[]): Reservation {
  return { status, start: isoOf(request.start), end: isoOf(request.end), conflictsWith }
}

export function sameReservation(a: unknown, b: Reservation | null | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

export const isoOf = (ms: number) => new Date(ms).toISOString()

/** Milliseconds of an ISO 8601 instant with a zone; null for anything else (naive timestamps included). */
export function instantMs(value: unknown): number | null {
  if (typeof value !== 'string' || !instant.safeParse(value).success) return null
  const ms = Date.parse(value)
  return Number.isFinite(ms) ? ms : null
}
