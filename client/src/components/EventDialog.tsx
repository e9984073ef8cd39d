/**
 * Create an event for a chosen slot (attendees, room), then follow the server's
 * decision live: pending → confirmed, or conflict with free slots to pick. Times are
 * typed and shown on the calendar's time zone, which the dialog names.
 */
import { Badge } from './Badge.js'
import { type FormEvent, useId, useRef, useState } from 'react'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { fromZonedInput, instantLabel, timeLabel, toZonedInput } from '../calendarMath.js'
import { navigate } from '../router.js'
import { api, ApiError, type User } from '../session/api.js'
import { useRooms } from '../useRooms.js'
import { ReservationPanel, reservationOf, type Slot } from './ReservationPanel.js'
import { useDialogFocus } from './useDialogFocus.js'

export interface EventDialogProps {
  slot: Slot
  users: User[]
  me: User
  events: IndexEntry[]
  /** The calendar's time zone: the times are typed and shown on its wall clock. */
  timeZone: string
  /** An existing event to show instead of the creation form. */
  eventId?: string
  onClose(): void
}

export function EventDialog({ slot, users, me, events, timeZone, eventId, onClose }: EventDialogProps) {
  const titleId = useId()
  const [createdId, setCreatedId] = useState<string | null>(eventId ?? null)
  const [title, setTitle] = useState('')
  const [attendees, setAttendees] = useState<string[]>([me.id])
  const rooms = useRooms(events)
  const [chosenRoom, setRoom] = useState<string | null>(null)
  const room = chosenRoom ?? rooms[0] ?? ''
  const [start, setStart] = useState(() => toZonedInput(Date.parse(slot.start), timeZone))
  const [end, setEnd] = useState(() => toZonedInput(Date.parse(slot.end), timeZone))
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const first = useRef<HTMLInputElement>(null)
  const entry = createdId ? events.find((e) => e.id === createdId) : undefined
  const isoOf = (local: string) => fromZonedInput(local, timeZone)

  useDialogFocus(first, onClose)
  // Checked as the times change, so the message goes as soon as they are right.
  const timesIssue = start && end && isoOf(start) && isoOf(end) && isoOf(end) <= isoOf(start) ? 'Ends must be after it starts' : null
  /** Changing what the server refused takes its message away: it spoke of the old values. */
  const edit =
    <T,>(set: (value: T) => void) =>
    (value: T) => {
      set(value)
      setError(null)
    }

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (timesIssue) return
    setBusy(true)
    setError(null)
    try {
      const record = await api<{ id: string }>('POST', '/api/records/events', {
        title,
        start: isoOf(start),
        end: isoOf(end),
        attendees,
        ...(room ? { room } : {}),
        status: 'scheduled',
      })
      setCreatedId(record.id)
    } catch (e) {
      setError(
        e instanceof ApiError ? [e.message, ...e.issues.map((i) => `${i.path}: ${i.message}`)].join(' — ') : 'Could not reach the server',
      )
    } finally {
      setBusy(false)
    }
  }

  async function pick(next: Slot) {
    if (!createdId) return
    try {
      await api('PATCH', `/api/records/events/${createdId}`, { start: next.start, end: next.end })
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Could not move the event')
    }
  }

  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby={titleId} data-testid="event-dialog">
        <h2 id={titleId}>{createdId ? (entry?.title ?? title) : 'New event'}</h2>
        <p className="cell-muted">
          {instantLabel(Date.parse(String(entry?.fields.start ?? isoOf(start))), timeZone)} –{' '}
          {timeLabel(Date.parse(String(entry?.fields.end ?? isoOf(end))), timeZone)} <span data-testid="dialog-zone">({timeZone})</span>
        </p>
        {!createdId ? (
          <form onSubmit={submit} className="dialog-form">
            <label>
              Title
              <input ref={first} name="title" required value={title} onChange={(e) => setTitle(e.target.value)} />
            </label>
            <div className="dialog-row">
              <label>
                Starts
                <input type="datetime-local" name="start" required value={start} onChange={(e) => edit(setStart)(e.target.value)} />
              </label>
              <label>
                Ends
                <input
                  type="datetime-local"
                  name="end"
                  required
                  value={end}
                  aria-invalid={timesIssue ? true : undefined}
                  onChange={(e) => edit(setEnd)(e.target.value)}
                />
              </label>
            </div>
            {timesIssue && (
              <p className="field-issue" role="alert" data-testid="times-issue">
                {timesIssue}
              </p>
            )}
            <fieldset>
              <legend>Attendees</legend>
              <div className="checks">
                {users.map((u) => (
                  <label key={u.id} className="check">
                    <input
                      type="checkbox"
                      checked={attendees.includes(u.id)}
                      onChange={(e) => setAttendees((list) => (e.target.checked ? [...list, u.id] : list.filter((x) => x !== u.id)))}
                    />
                    {u.name}
                  </label>
                ))}
              </div>
            </fieldset>
            <label>
              Room
              <select name="room" value={room} onChange={(e) => setRoom(e.target.value)}>
                <option value="">No room</option>
                {rooms.map((r) => (
                  <option key={r}>{r}</option>
                ))}
              </select>
            </label>
            {error && (
              <p className="notice notice-error" role="alert">
                {error}
              </p>
            )}
            <div className="dialog-actions">
              <button type="button" className="button button-ghost" onClick={onClose}>
                Cancel
              </button>
              <button type="submit" className="button button-primary" disabled={busy || timesIssue !== null}>
                Book
              </button>
            </div>
          </form>
        ) : (
          <>
            {entry ? (
              <ReservationPanel
                fields={entry.fields}
                reservation={reservationOf(entry.authority)}
                events={events}
                eventId={entry.id}
                readOnly={me.role === 'viewer'}
                onPick={(s) => void pick(s)}
              />
            ) : (
              <div className="reservation reservation-pending" data-testid="reservation" data-status="pending">
                <Badge value="pending" /> Sending…
              </div>
            )}
            {error && (
              <p className="notice notice-error" role="alert">
                {error}
              </p>
            )}
            <div className="dialog-actions">
              <button type="button" className="button button-ghost" onClick={() => navigate(`/events/${createdId}`)}>
                Open event
              </button>
              <button type="button" className="button button-primary" onClick={onClose}>
                Done
              </button>
            </div>
          </>
        )}
      </div>
    </div>
  )
}
