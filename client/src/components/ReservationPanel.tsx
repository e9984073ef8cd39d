/**
 * An event's reservation as the server decided it: pending, confirmed, or a conflict that
 * says who or which room clashed with which booking, with the next free slots to pick from;
 * once the clash is gone (`conflictsWith` empty), Retry asks the server to decide again.
 */
import { Badge } from './Badge.js'
import { useEffect, useState } from 'react'
import type { Reservation } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { instantLabel, timeLabel } from '../calendarMath.js'
import { api, ApiError, type User } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useTimeZone } from '../timeZone.js'

export interface Slot {
  start: string
  end: string
}

/** How far ahead free slots are looked for. @default 7 days */
const FREE_SLOT_HORIZON_MS = 7 * 86_400_000
/** Suggestions shown on a conflict. @default 3 */
const MAX_SUGGESTIONS = 3

/** The free-slot query of the calendar API for an event's attendees and room. */
export function freeSlotsUrl(fields: Record<string, unknown>): string {
  const start = Date.parse(String(fields.start))
  const end = Date.parse(String(fields.end))
  const params = new URLSearchParams({
    attendees: ((fields.attendees as string[] | undefined) ?? []).join(','),
    room: String(fields.room ?? ''),
    from: new Date(start).toISOString(),
    to: new Date(start + FREE_SLOT_HORIZON_MS).toISOString(),
    duration: String(Math.max(1, Math.round((end - start) / 60_000))),
    limit: String(MAX_SUGGESTIONS),
  })
  return `/api/calendar/free?${params}`
}

export function reservationOf(entryAuthority: Record<string, unknown>): Reservation | null {
  const value = entryAuthority.reservation
  return value && typeof value === 'object' ? (value as Reservation) : null
}

const sameRoom = (a: unknown, b: unknown) =>
  typeof a === 'string' && typeof b === 'string' && a.trim() !== '' && a.trim().toLowerCase() === b.trim().toLowerCase()

function people(names: string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
}

/**
 * What each blocking event takes from this one, in words: "Bob is booked in 'Q3 review'
 * 10:00–11:00", "Room Oslo is taken by 'Q3 review' 10:00–11:00". `events` are the events the
 * user may read (the workspace's index); a blocker not among them is "another booking".
 */
export function clashWords(
  fields: Record<string, unknown>,
  conflictsWith: readonly string[],
  events: readonly IndexEntry[],
  users: readonly User[],
  meId: string,
  timeZone: string,
): string[] {
  const attendees = Array.isArray(fields.attendees) ? (fields.attendees as string[]) : []
  return conflictsWith.map((id) => {
    const other = events.find((e) => e.id === id)
    if (!other) return 'The slot collides with another booking.'
    const when = `${timeLabel(Date.parse(String(other.fields.start)), timeZone)}–${timeLabel(Date.parse(String(other.fields.end)), timeZone)}`
    const booking = `'${other.title}' ${when}`
    const theirs = Array.isArray(other.fields.attendees) ? (other.fields.attendees as string[]) : []
    const shared = attendees.filter((a) => theirs.includes(a))
    const parts: string[] = []
    if (shared.length > 0) {
      const names = shared.map((a) => (a === meId ? 'You' : (users.find((u) => u.id === a)?.name ?? 'Someone')))
      const verb = names.length > 1 || names[0] === 'You' ? 'are' : 'is'
      parts.push(`${people(names)} ${verb} booked in ${booking}`)
    }
    if (sameRoom(fields.room, other.fields.room))
      parts.push(`${parts.length > 0 ? 'room' : 'Room'} ${String(fields.room).trim()} is taken${parts.length > 0 ? '' : ` by ${booking}`}`)
    return parts.length > 0 ? `${parts.join('; ')}.` : `The slot collides with ${booking}.`
  })
}

export interface ReservationPanelProps {
  fields: Record<string, unknown>
  reservation: Reservation | null
  events: IndexEntry[]
  readOnly: boolean
  /** The event: Retry decides it again once its slot is free. */
  eventId?: string
  onPick(slot: Slot): void
}

export function ReservationPanel({ fields, reservation, events, readOnly, eventId, onPick }: ReservationPanelProps) {
  const me = useUser()
  const users = useUsers()
  const [timeZone] = useTimeZone(me.id)
  const [retry, setRetry] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null })
  const status = reservation?.status ?? 'pending'
  const [slots, setSlots] = useState<Slot[] | null>(null)
  const conflict = status === 'conflict'
  const query = conflict ? freeSlotsUrl(fields) : null
  useEffect(() => {
    if (!query) return setSlots(null)
    let live = true
    api<{ slots: Slot[] }>('GET', query)
      .then((r) => live && setSlots(r.slots.slice(0, MAX_SUGGESTIONS)))
      .catch(() => live && setSlots([]))
    return () => {
      live = false
    }
  }, [query])
  const durationMs = Date.parse(String(fields.end)) - Date.parse(String(fields.start))
  // A free slot is a gap; the event keeps its length and starts at the gap's start.
  const pick = (slot: Slot) => onPick({ start: slot.start, end: new Date(Date.parse(slot.start) + durationMs).toISOString() })
  const blockers = reservation?.conflictsWith ?? []
  const clashes = conflict ? clashWords(fields, blockers, events, users, me.id, timeZone) : []
  const free = conflict && blockers.length === 0
  async function retryNow() {
    if (!eventId) return
    setRetry({ busy: true, error: null })
    try {
      await api('POST', `/api/calendar/events/${encodeURIComponent(eventId)}/retry`)
      setRetry({ busy: false, error: null })
    } catch (e) {
      setRetry({ busy: false, error: e instanceof ApiError ? e.message : 'Could not reach the server' })
    }
  }
  return (
    <div className={`reservation reservation-${status}`} data-testid="reservation" data-status={status} role="status" aria-live="polite">
      <div className="reservation-head">
        <Badge value={status} />
        {status === 'pending' && <span>Waiting for the calendar to confirm this slot…</span>}
        {status === 'confirmed' && <span>Booked {reservation ? instantLabel(Date.parse(reservation.start), timeZone) : ''}</span>}
        {free && <span data-testid="slot-free">The slot is free again: nobody holds it now.</span>}
        {free && eventId && !readOnly && (
          <button type="button" className="button button-small button-primary" disabled={retry.busy} onClick={() => void retryNow()}>
            Retry
          </button>
        )}
      </div>
      {clashes.length > 0 && (
        <ul className="reservation-clashes" data-testid="clashes">
          {clashes.map((words, i) => (
            <li key={blockers[i]}>{words}</li>
          ))}
        </ul>
      )}
      {retry.error && <p className="field-issue">{retry.error}</p>}
      {conflict && (
        <div className="reservation-slots">
          <span className="cell-muted">Next free slots:</span>
          {slots === null && <span className="cell-muted">looking…</span>}
          {slots?.length === 0 && <span className="cell-muted">none found this week</span>}
          {slots?.map((slot) => (
            <button
              key={slot.start}
              type="button"
              className="chip chip-action"
              disabled={readOnly}
              onClick={() => pick(slot)}
              data-testid="free-slot"
            >
              {instantLabel(Date.parse(slot.start), timeZone)}
            </button>
          ))}
        </div>
      )}
    </div>
  )
}
