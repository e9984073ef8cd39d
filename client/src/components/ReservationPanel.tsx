/**
 * An event's reservation as the server decided it: pending, confirmed, or a
 * conflict naming the colliding events, with the next free slots to pick from.
 */
import { Badge } from './Badge.js'
import { useEffect, useState } from 'react'
import type { Reservation } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { formatInstant } from '../fieldKinds.js'
import { api } from '../session/api.js'

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

export interface ReservationPanelProps {
  fields: Record<string, unknown>
  reservation: Reservation | null
  events: IndexEntry[]
  readOnly: boolean
  onPick(slot: Slot): void
}

export function ReservationPanel({ fields, reservation, events, readOnly, onPick }: ReservationPanelProps) {
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
  const titleOf = (id: string) => events.find((e) => e.id === id)?.title ?? 'another event'
  return (
    <div className={`reservation reservation-${status}`} data-testid="reservation" data-status={status} role="status" aria-live="polite">
      <div className="reservation-head">
        <Badge value={status} />
        {status === 'pending' && <span>Waiting for the calendar to confirm this slot…</span>}
        {status === 'confirmed' && <span>Booked {reservation ? formatInstant(reservation.start) : ''}</span>}
        {conflict && (
          <span>This slot collides with {(reservation?.conflictsWith ?? []).map(titleOf).join(', ') || 'another booking'}.</span>
        )}
      </div>
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
              {formatInstant(slot.start)}
            </button>
          ))}
        </div>
      )}
    </div>
  )
}
