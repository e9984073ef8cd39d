/**
 * Week view of events, live from the events index. Drag over a day column to pick
 * a slot (or use "New event"), then book it; each event shows the server's decision.
 */
import { type PointerEvent, useCallback, useMemo, useRef, useState } from 'react'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { EventDialog } from '../components/EventDialog.js'
import { reservationOf, type Slot } from '../components/ReservationPanel.js'
import {
  addDays,
  layoutLanes,
  placement,
  sameDay,
  SLOT_PX,
  SLOTS_PER_DAY,
  slotTime,
  startOfWeek,
  shortTimeLabel,
  timeLabel,
  FIRST_HOUR,
  LAST_HOUR,
} from '../calendarMath.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useIndex } from '../sync/useIndex.js'

interface Selection {
  day: number
  from: number
  to: number
}

export default function CalendarScreen() {
  const user = useUser()
  const users = useUsers()
  const { entries } = useIndex(user.workspace, 'events')
  const [weekStart, setWeekStart] = useState(() => startOfWeek(new Date()))
  const [selection, setSelection] = useState<Selection | null>(null)
  const [dialog, setDialog] = useState<{ slot: Slot; eventId?: string } | null>(null)
  const dragging = useRef(false)
  const days = useMemo(() => Array.from({ length: 7 }, (_, i) => addDays(weekStart, i)), [weekStart])
  const readOnly = user.role === 'viewer'
  const visible = useMemo(() => entries.filter((e) => e.fields.status !== 'cancelled'), [entries])
  const closeDialog = useCallback(() => setDialog(null), [])
  const lanes = useMemo(
    () => layoutLanes(visible.map((e) => ({ id: e.id, start: Date.parse(String(e.fields.start)), end: Date.parse(String(e.fields.end)) }))),
    [visible],
  )

  const slotAt = (event: PointerEvent<HTMLDivElement>) => {
    const rect = event.currentTarget.getBoundingClientRect()
    return Math.min(SLOTS_PER_DAY - 1, Math.max(0, Math.floor((event.clientY - rect.top) / SLOT_PX)))
  }

  function finish(sel: Selection) {
    const from = Math.min(sel.from, sel.to)
    const to = Math.max(sel.from, sel.to) + 1
    setDialog({ slot: { start: slotTime(days[sel.day]!, from).toISOString(), end: slotTime(days[sel.day]!, to).toISOString() } })
    setSelection(null)
  }

  function newEvent() {
    const start = new Date()
    start.setMinutes(0, 0, 0)
    start.setHours(start.getHours() + 1)
    setDialog({ slot: { start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString() } })
  }

  const hours = Array.from({ length: LAST_HOUR - FIRST_HOUR }, (_, i) => FIRST_HOUR + i)
  return (
    <section aria-labelledby="calendar-title" className="calendar-page">
      <div className="page-header">
        <h1 id="calendar-title">Calendar</h1>
        <span className="page-sub">
          {days[0]!.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} –{' '}
          {days[6]!.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' })}
        </span>
        <div className="page-actions">
          <div className="button-group" role="group" aria-label="Week">
            <button type="button" className="button" onClick={() => setWeekStart((w) => addDays(w, -7))} aria-label="Previous week">
              ‹
            </button>
            <button type="button" className="button" onClick={() => setWeekStart(startOfWeek(new Date()))}>
              Today
            </button>
            <button type="button" className="button" onClick={() => setWeekStart((w) => addDays(w, 7))} aria-label="Next week">
              ›
            </button>
          </div>
          {!readOnly && (
            <button type="button" className="button button-primary" onClick={newEvent}>
              New event
            </button>
          )}
        </div>
      </div>
      <div className="week" style={{ ['--slot-px' as string]: `${SLOT_PX}px` }}>
        <div className="week-head">
          <div />
          {days.map((day) => (
            <div key={day.toISOString()} className={sameDay(day, new Date()) ? 'week-day today' : 'week-day'}>
              <span>{day.toLocaleDateString(undefined, { weekday: 'short' })}</span>
              <strong>{day.getDate()}</strong>
            </div>
          ))}
        </div>
        <div className="week-body">
          <div className="week-hours" aria-hidden="true">
            {hours.map((h) => (
              <div key={h} className="week-hour" style={{ height: SLOT_PX * 2 }}>
                {new Date(2000, 0, 1, h).toLocaleTimeString(undefined, { hour: 'numeric' })}
              </div>
            ))}
          </div>
          {days.map((day, dayIndex) => (
            <div
              key={day.toISOString()}
              className="week-column"
              data-day={dayIndex}
              style={{ height: SLOTS_PER_DAY * SLOT_PX }}
              aria-label={`${day.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' })}: drag to create an event`}
              onPointerDown={(e) => {
                if (readOnly || e.button !== 0 || (e.target as HTMLElement).closest('.event-block')) return
                e.currentTarget.setPointerCapture(e.pointerId)
                dragging.current = true
                const slot = slotAt(e)
                setSelection({ day: dayIndex, from: slot, to: slot })
              }}
              onPointerMove={(e) => {
                if (!dragging.current) return
                const slot = slotAt(e)
                setSelection((s) => (s && s.day === dayIndex ? { ...s, to: slot } : s))
              }}
              onPointerUp={() => {
                if (!dragging.current) return
                dragging.current = false
                if (selection) finish(selection)
              }}
            >
              {selection?.day === dayIndex && (
                <div
                  className="slot-selection"
                  style={{
                    top: Math.min(selection.from, selection.to) * SLOT_PX,
                    height: (Math.abs(selection.to - selection.from) + 1) * SLOT_PX,
                  }}
                >
                  {timeLabel(slotTime(day, Math.min(selection.from, selection.to)))} –{' '}
                  {timeLabel(slotTime(day, Math.max(selection.from, selection.to) + 1))}
                </div>
              )}
              {visible.map((event) => (
                <EventBlock
                  key={event.id}
                  event={event}
                  day={day}
                  lane={lanes.get(event.id)}
                  onOpen={() =>
                    setDialog({ slot: { start: String(event.fields.start), end: String(event.fields.end) }, eventId: event.id })
                  }
                />
              ))}
            </div>
          ))}
        </div>
      </div>
      {dialog && (
        <EventDialog
          key={dialog.eventId ?? dialog.slot.start}
          slot={dialog.slot}
          eventId={dialog.eventId}
          users={users}
          me={user}
          events={entries}
          onClose={closeDialog}
        />
      )}
    </section>
  )
}

function EventBlock({
  event,
  day,
  lane,
  onOpen,
}: {
  event: IndexEntry
  day: Date
  lane?: { lane: number; lanes: number }
  onOpen(): void
}) {
  const start = new Date(String(event.fields.start))
  const end = new Date(String(event.fields.end))
  const place = placement(day, start, end)
  if (!place) return null
  const status = reservationOf(event.authority)?.status ?? 'pending'
  // Three or more side by side leave a block too narrow for "12:00 PM" on one line.
  const narrow = (lane?.lanes ?? 1) >= 3
  return (
    <button
      type="button"
      className={`event-block event-${status}${narrow ? ' event-narrow' : ''}`}
      style={{
        top: place.top,
        height: place.height,
        left: `calc(${((lane?.lane ?? 0) * 100) / (lane?.lanes ?? 1)}% + 3px)`,
        width: `calc(${100 / (lane?.lanes ?? 1)}% - 6px)`,
      }}
      onClick={onOpen}
      data-event-id={event.id}
      data-status={status}
      aria-label={`${event.title}, ${timeLabel(start)} to ${timeLabel(end)}, ${status}`}
      title={`${timeLabel(start)}–${timeLabel(end)} ${event.title}${event.fields.room ? ` · ${String(event.fields.room)}` : ''}`}
    >
      <span className="event-time">{narrow ? shortTimeLabel(start) : timeLabel(start)}</span>
      <strong>{event.title}</strong>
      {event.fields.room ? <span>{String(event.fields.room)}</span> : null}
    </button>
  )
}
