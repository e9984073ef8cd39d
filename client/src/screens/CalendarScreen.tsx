/**
 * The calendar: a day, a week or a month of events, live from the events index, on a time
 * zone the user picks (remembered in this browser). The day and week grids hold all 24 hours
 * and open scrolled to the working day. Drag over a day column to pick a slot (or use "New
 * event"), then book it; each event shows the server's decision.
 */
import '../calendar.css'
import { type PointerEvent, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { EventDialog } from '../components/EventDialog.js'
import { reservationOf, type Slot } from '../components/ReservationPanel.js'
import {
  addMonths,
  byDay,
  dateOf,
  type Day,
  dayLabel,
  dayOf,
  HOUR_PX,
  hourLabel,
  layoutLanes,
  monthGrid,
  placement,
  SLOT_PX,
  SLOTS_PER_DAY,
  shortTimeLabel,
  slotTime,
  startOfWeek,
  timeLabel,
  wallMinutes,
  WORK_START_HOUR,
} from '../calendarMath.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useIndex } from '../sync/useIndex.js'
import { browserTimeZone, shortZone, timeZones, useTimeZone } from '../timeZone.js'

export type CalendarView = 'day' | 'week' | 'month'
const VIEWS: { view: CalendarView; label: string }[] = [
  { view: 'day', label: 'Day' },
  { view: 'week', label: 'Week' },
  { view: 'month', label: 'Month' },
]
/** How often the line at the current time moves. @default 1 minute */
const NOW_TICK_MS = 60_000
/** Events listed in one month cell before "+ n more". @default 3 */
const MONTH_CELL_EVENTS = 3

interface Selection {
  day: number
  from: number
  to: number
}

interface Timed {
  entry: IndexEntry
  start: number
  end: number
}

const isoDay = (day: Day) => {
  const { year, month, date } = dateOf(day)
  return `${year}-${String(month).padStart(2, '0')}-${String(date).padStart(2, '0')}`
}

export default function CalendarScreen() {
  const user = useUser()
  const users = useUsers()
  const { entries } = useIndex(user.workspace, 'events')
  const [timeZone, setTimeZone] = useTimeZone(user.id)
  const today = dayOf(Date.now(), timeZone)
  const [view, setView] = useState<CalendarView>('week')
  const [anchor, setAnchor] = useState<Day>(today)
  const [selection, setSelection] = useState<Selection | null>(null)
  const [dialog, setDialog] = useState<{ slot: Slot; eventId?: string } | null>(null)
  const dragging = useRef(false)
  const readOnly = user.role === 'viewer'
  const days = useMemo(() => {
    if (view === 'day') return [anchor]
    if (view === 'week') return Array.from({ length: 7 }, (_, i) => startOfWeek(anchor) + i)
    return monthGrid(anchor)
  }, [view, anchor])
  const timed = useMemo<Timed[]>(
    () =>
      entries
        .filter((e) => e.fields.status !== 'cancelled')
        .map((entry) => ({ entry, start: Date.parse(String(entry.fields.start)), end: Date.parse(String(entry.fields.end)) }))
        .filter((e) => Number.isFinite(e.start) && Number.isFinite(e.end))
        .sort((a, b) => a.start - b.start),
    [entries],
  )
  const closeDialog = useCallback(() => setDialog(null), [])
  const open = useCallback(
    (e: Timed) => setDialog({ slot: { start: String(e.entry.fields.start), end: String(e.entry.fields.end) }, eventId: e.entry.id }),
    [],
  )
  const zones = useMemo(() => timeZones(), [])

  function move(step: -1 | 1) {
    if (view === 'day') setAnchor((d) => d + step)
    else if (view === 'week') setAnchor((d) => d + 7 * step)
    else setAnchor((d) => addMonths(d, step))
  }

  function newEvent() {
    const start = Math.ceil(Date.now() / 3_600_000) * 3_600_000
    setDialog({ slot: { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString() } })
  }

  const range =
    view === 'day'
      ? dayLabel(anchor, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })
      : view === 'week'
        ? `${dayLabel(days[0]!, { day: 'numeric', month: 'short' })} – ${dayLabel(days[6]!, { day: 'numeric', month: 'short', year: 'numeric' })}`
        : dayLabel(addMonths(anchor, 0), { month: 'long', year: 'numeric' })
  const unit = view === 'day' ? 'day' : view === 'week' ? 'week' : 'month'

  return (
    <section aria-labelledby="calendar-title" className="calendar-page">
      <div className="page-header">
        <h1 id="calendar-title">Calendar</h1>
        <span className="page-sub" data-testid="calendar-range">
          {range}
        </span>
        <div className="page-actions">
          <div className="button-group" role="group" aria-label="View">
            {VIEWS.map((v) => (
              <button
                key={v.view}
                type="button"
                className={view === v.view ? 'button button-active' : 'button'}
                aria-pressed={view === v.view}
                onClick={() => setView(v.view)}
              >
                {v.label}
              </button>
            ))}
          </div>
          <div className="button-group" role="group" aria-label="Move">
            <button type="button" className="button" onClick={() => move(-1)} aria-label={`Previous ${unit}`}>
              ‹
            </button>
            <button type="button" className="button" onClick={() => setAnchor(today)}>
              Today
            </button>
            <button type="button" className="button" onClick={() => move(1)} aria-label={`Next ${unit}`}>
              ›
            </button>
          </div>
          <label className="tz-picker">
            <span>Time zone</span>
            <select name="timezone" value={timeZone} onChange={(e) => setTimeZone(e.target.value)}>
              {zones.map((zone) => (
                <option key={zone} value={zone}>
                  {zone.replaceAll('_', ' ')}
                  {zone === browserTimeZone() ? ' (this device)' : ''}
                </option>
              ))}
            </select>
          </label>
          {!readOnly && (
            <button type="button" className="button button-primary" onClick={newEvent}>
              New event
            </button>
          )}
        </div>
      </div>
      {view === 'month' ? (
        <MonthGrid
          days={days}
          month={dateOf(anchor).month}
          today={today}
          events={timed}
          timeZone={timeZone}
          onOpen={open}
          onDay={(day) => {
            setAnchor(day)
            setView('day')
          }}
        />
      ) : (
        <TimeGrid
          key={view}
          days={days}
          today={today}
          events={timed}
          timeZone={timeZone}
          readOnly={readOnly}
          selection={selection}
          onSelect={setSelection}
          dragging={dragging}
          onPicked={(slot) => {
            setDialog({ slot })
            setSelection(null)
          }}
          onOpen={open}
        />
      )}
      {dialog && (
        <EventDialog
          key={dialog.eventId ?? dialog.slot.start}
          slot={dialog.slot}
          eventId={dialog.eventId}
          users={users}
          me={user}
          events={entries}
          timeZone={timeZone}
          onClose={closeDialog}
        />
      )}
    </section>
  )
}

interface TimeGridProps {
  days: Day[]
  today: Day
  events: Timed[]
  timeZone: string
  readOnly: boolean
  selection: Selection | null
  onSelect(update: Selection | null | ((s: Selection | null) => Selection | null)): void
  dragging: { current: boolean }
  onPicked(slot: Slot): void
  onOpen(event: Timed): void
}

/** One or seven day columns of all 24 hours, in a box that scrolls; it opens at the working day. */
function TimeGrid({ days, today, events, timeZone, readOnly, selection, onSelect, dragging, onPicked, onOpen }: TimeGridProps) {
  const scroller = useRef<HTMLDivElement>(null)
  const lanes = useMemo(() => layoutLanes(events.map((e) => ({ id: e.entry.id, start: e.start, end: e.end }))), [events])
  const perDay = useMemo(() => byDay(events, days[0]!, days.at(-1)!, timeZone), [events, days, timeZone])
  useLayoutEffect(() => {
    if (scroller.current) scroller.current.scrollTop = WORK_START_HOUR * HOUR_PX
  }, [])
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), NOW_TICK_MS)
    return () => clearInterval(timer)
  }, [])
  const slotAt = (event: PointerEvent<HTMLDivElement>) => {
    const rect = event.currentTarget.getBoundingClientRect()
    return Math.min(SLOTS_PER_DAY - 1, Math.max(0, Math.floor((event.clientY - rect.top) / SLOT_PX)))
  }
  function finish(sel: Selection) {
    const day = days[sel.day]!
    const from = Math.min(sel.from, sel.to)
    const to = Math.max(sel.from, sel.to) + 1
    onPicked({ start: new Date(slotTime(day, from, timeZone)).toISOString(), end: new Date(slotTime(day, to, timeZone)).toISOString() })
  }
  const hours = Array.from({ length: 24 }, (_, h) => h)
  return (
    <div
      ref={scroller}
      className="week"
      data-testid="time-grid"
      data-days={days.length}
      style={{ ['--slot-px' as string]: `${SLOT_PX}px`, ['--days' as string]: days.length }}
    >
      <div className="week-head">
        <div className="week-zone" title={timeZone}>
          {shortZone(timeZone)}
        </div>
        {days.map((day) => (
          <div key={day} className={day === today ? 'week-day today' : 'week-day'}>
            <span>{dayLabel(day, { weekday: 'short' })}</span>
            <strong>{dateOf(day).date}</strong>
          </div>
        ))}
      </div>
      <div className="week-body">
        <div className="week-hours" aria-hidden="true">
          {hours.map((h) => (
            <div key={h} className="week-hour" style={{ height: HOUR_PX }}>
              {h === 0 ? '' : hourLabel(h)}
            </div>
          ))}
        </div>
        {days.map((day, dayIndex) => (
          <div
            key={day}
            className="week-column"
            data-day={dayIndex}
            data-date={isoDay(day)}
            style={{ height: SLOTS_PER_DAY * SLOT_PX }}
            aria-label={`${dayLabel(day, { weekday: 'long', day: 'numeric', month: 'long' })}: drag to create an event`}
            onPointerDown={(e) => {
              if (readOnly || e.button !== 0 || (e.target as HTMLElement).closest('.event-block')) return
              e.currentTarget.setPointerCapture(e.pointerId)
              dragging.current = true
              const slot = slotAt(e)
              onSelect({ day: dayIndex, from: slot, to: slot })
            }}
            onPointerMove={(e) => {
              if (!dragging.current) return
              const slot = slotAt(e)
              onSelect((s) => (s && s.day === dayIndex ? { ...s, to: slot } : s))
            }}
            onPointerUp={() => {
              if (!dragging.current) return
              dragging.current = false
              if (selection) finish(selection)
            }}
          >
            {day === today && <div className="now-line" style={{ top: (wallMinutes(now, timeZone) * HOUR_PX) / 60 }} aria-hidden="true" />}
            {selection?.day === dayIndex && (
              <div
                className="slot-selection"
                style={{
                  top: Math.min(selection.from, selection.to) * SLOT_PX,
                  height: (Math.abs(selection.to - selection.from) + 1) * SLOT_PX,
                }}
              >
                {timeLabel(slotTime(day, Math.min(selection.from, selection.to), timeZone), timeZone)} –{' '}
                {timeLabel(slotTime(day, Math.max(selection.from, selection.to) + 1, timeZone), timeZone)}
              </div>
            )}
            {(perDay.get(day) ?? []).map((event) => (
              <EventBlock
                key={event.entry.id}
                event={event}
                day={day}
                timeZone={timeZone}
                lane={lanes.get(event.entry.id)}
                onOpen={() => onOpen(event)}
              />
            ))}
          </div>
        ))}
      </div>
    </div>
  )
}

function statusOf(entry: IndexEntry) {
  return reservationOf(entry.authority)?.status ?? 'pending'
}

function EventBlock({
  event,
  day,
  timeZone,
  lane,
  onOpen,
}: {
  event: Timed
  day: Day
  timeZone: string
  lane?: { lane: number; lanes: number }
  onOpen(): void
}) {
  const place = placement(day, event.start, event.end, timeZone)
  if (!place) return null
  const { entry, start, end } = event
  const status = statusOf(entry)
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
      data-event-id={entry.id}
      data-status={status}
      aria-label={`${entry.title}, ${timeLabel(start, timeZone)} to ${timeLabel(end, timeZone)}, ${status}`}
      title={`${timeLabel(start, timeZone)}–${timeLabel(end, timeZone)} ${entry.title}${entry.fields.room ? ` · ${String(entry.fields.room)}` : ''}`}
    >
      <span className="event-time">{narrow ? shortTimeLabel(start, timeZone) : timeLabel(start, timeZone)}</span>
      <strong>{entry.title}</strong>
      {entry.fields.room ? <span>{String(entry.fields.room)}</span> : null}
    </button>
  )
}

/** Whole weeks of the month, each day with its first events; a day's number opens that day. */
function MonthGrid({
  days,
  month,
  today,
  events,
  timeZone,
  onOpen,
  onDay: openDay,
}: {
  days: Day[]
  month: number
  today: Day
  events: Timed[]
  timeZone: string
  onOpen(event: Timed): void
  onDay(day: Day): void
}) {
  const perDay = useMemo(() => byDay(events, days[0]!, days.at(-1)!, timeZone), [events, days, timeZone])
  return (
    <div className="month" data-testid="month-grid">
      <div className="month-head" aria-hidden="true">
        {days.slice(0, 7).map((day) => (
          <div key={day}>{dayLabel(day, { weekday: 'short' })}</div>
        ))}
      </div>
      <div className="month-body">
        {days.map((day) => {
          const here = perDay.get(day) ?? []
          const more = here.length - MONTH_CELL_EVENTS
          const classes = ['month-cell', dateOf(day).month === month ? '' : 'month-other', day === today ? 'today' : '']
          return (
            <div key={day} className={classes.filter(Boolean).join(' ')} data-date={isoDay(day)}>
              <button
                type="button"
                className="month-date"
                onClick={() => openDay(day)}
                aria-label={`${dayLabel(day, { weekday: 'long', day: 'numeric', month: 'long' })}: open the day`}
              >
                {dateOf(day).date}
              </button>
              {here.slice(0, MONTH_CELL_EVENTS).map((event) => (
                <button
                  key={event.entry.id}
                  type="button"
                  className={`month-event event-${statusOf(event.entry)}`}
                  data-event-id={event.entry.id}
                  onClick={() => onOpen(event)}
                  title={`${timeLabel(event.start, timeZone)}–${timeLabel(event.end, timeZone)} ${event.entry.title}`}
                >
                  <span className="event-time">{shortTimeLabel(event.start, timeZone)}</span> {event.entry.title}
                </button>
              ))}
              {more > 0 && (
                <button type="button" className="month-more" onClick={() => openDay(day)}>
                  + {more} more
                </button>
              )}
            </div>
          )
        })}
      </div>
    </div>
  )
}
