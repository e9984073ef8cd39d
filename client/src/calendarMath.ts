/**
 * Calendar arithmetic in a chosen IANA time zone (`Europe/Oslo`), whatever the browser's own.
 * Days are civil dates, counted as whole days since 1970-01-01, so moving by days, weeks and
 * months is integer arithmetic; instants are epoch milliseconds. Pure.
 */

export const DAY_MS = 86_400_000
const MINUTE_MS = 60_000
export const MINUTES_PER_DAY = 24 * 60
/** Minutes per grid slot. @default 30 */
export const SLOT_MINUTES = 30
/** Height of one slot, in CSS pixels. @default 24 */
export const SLOT_PX = 24
/** The grid holds the whole day: 48 half-hour slots. */
export const SLOTS_PER_DAY = MINUTES_PER_DAY / SLOT_MINUTES
/** The hour the day and week grids open scrolled to (the working day starts). @default 8 */
export const WORK_START_HOUR = 8
export const HOUR_PX = (SLOT_PX * 60) / SLOT_MINUTES

/** A civil date: whole days since 1970-01-01. */
export type Day = number

interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

const partFormats = new Map<string, Intl.DateTimeFormat>()

/** The wall clock of `ms` in `timeZone`. */
function wallClock(ms: number, timeZone: string): WallClock {
  let format = partFormats.get(timeZone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    partFormats.set(timeZone, format)
  }
  const parts: Record<string, number> = {}
  for (const part of format.formatToParts(ms)) if (part.type !== 'literal') parts[part.type] = Number(part.value)
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour! % 24,
    minute: parts.minute!,
    second: parts.second!,
  }
}

/** How far `timeZone`'s wall clock is ahead of UTC at `ms`, in milliseconds. */
export function offsetMs(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone)
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ms / 1000) * 1000
}

/** The civil date of `ms` in `timeZone`. */
export function dayOf(ms: number, timeZone: string): Day {
  return Math.floor((ms + offsetMs(ms, timeZone)) / DAY_MS)
}

/** Minutes since midnight of `ms`'s wall clock in `timeZone` (0–1439). */
export function wallMinutes(ms: number, timeZone: string): number {
  const local = ms + offsetMs(ms, timeZone)
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS)
}

/**
 * The instant when `timeZone`'s wall clock reads `minutes` after midnight of `day`. In a
 * daylight-saving gap (a wall time that does not exist) it is the instant an hour on.
 */
export function zonedInstant(day: Day, minutes: number, timeZone: string): number {
  const local = day * DAY_MS + minutes * MINUTE_MS
  const guess = local - offsetMs(local, timeZone)
  return local - offsetMs(guess, timeZone)
}

/** The instant at grid slot `slot` of `day`. */
export function slotTime(day: Day, slot: number, timeZone: string): number {
  return zonedInstant(day, slot * SLOT_MINUTES, timeZone)
}

/** 0 for Monday … 6 for Sunday (1970-01-01 was a Thursday). */
export function weekdayOf(day: Day): number {
  return (((day + 3) % 7) + 7) % 7
}

/** The Monday of `day`'s week. */
export function startOfWeek(day: Day): Day {
  return day - weekdayOf(day)
}

/** Year, month (1–12) and day of the month of a civil date. */
export function dateOf(day: Day): { year: number; month: number; date: number } {
  const d = new Date(day * DAY_MS)
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, date: d.getUTCDate() }
}

export function dayFromDate(year: number, month: number, date: number): Day {
  return Math.floor(Date.UTC(year, month - 1, date) / DAY_MS)
}

/** The first day of the month `months` after `day`'s month. */
export function addMonths(day: Day, months: number): Day {
  const { year, month } = dateOf(day)
  return dayFromDate(year, month + months, 1)
}

/** The days a month view shows for `day`'s month: whole weeks, Monday first. */
export function monthGrid(day: Day): Day[] {
  const first = addMonths(day, 0)
  const start = startOfWeek(first)
  const weeks = Math.ceil((first - start + (addMonths(day, 1) - first)) / 7)
  return Array.from({ length: weeks * 7 }, (_, i) => start + i)
}

/** Vertical placement of an interval within a day column of `timeZone`, in pixels; null when outside the day. */
export function placement(day: Day, start: number, end: number, timeZone: string): { top: number; height: number } | null {
  const dayStart = zonedInstant(day, 0, timeZone)
  const dayEnd = zonedInstant(day + 1, 0, timeZone)
  const s = Math.max(start, dayStart)
  const e = Math.min(end, dayEnd)
  if (e <= s) return null
  const pxPerMinute = SLOT_PX / SLOT_MINUTES
  const top = s === dayStart ? 0 : wallMinutes(s, timeZone)
  let bottom = e === dayEnd ? MINUTES_PER_DAY : wallMinutes(e, timeZone)
  // The night the clocks go back, the wall clock repeats an hour: keep the real length.
  if (bottom <= top) bottom = Math.min(MINUTES_PER_DAY, top + (e - s) / MINUTE_MS)
  return { top: top * pxPerMinute, height: Math.max((bottom - top) * pxPerMinute, SLOT_PX / 2) }
}

/** The intervals touching each day of `first`…`last` (inclusive) in `timeZone`, in the order given. */
export function byDay<T extends { start: number; end: number }>(
  items: readonly T[],
  first: Day,
  last: Day,
  timeZone: string,
): Map<Day, T[]> {
  const days = new Map<Day, T[]>()
  for (const item of items) {
    const from = Math.max(first, dayOf(item.start, timeZone))
    // `end` is free: an event ending at midnight does not touch the next day.
    const to = Math.min(last, dayOf(Math.max(item.start, item.end - 1), timeZone))
    for (let day = from; day <= to; day++) {
      const list = days.get(day)
      if (list) list.push(item)
      else days.set(day, [item])
    }
  }
  return days
}

const formats = new Map<string, Intl.DateTimeFormat>()
function format(timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${timeZone} ${JSON.stringify(options)}`
  let f = formats.get(key)
  if (!f) formats.set(key, (f = new Intl.DateTimeFormat(undefined, { ...options, timeZone })))
  return f
}

export function timeLabel(ms: number, timeZone: string): string {
  return format(timeZone, { hour: '2-digit', minute: '2-digit' }).format(ms)
}

/** The shortest time label, for a block too narrow for {@link timeLabel}: no `:00` on the hour ("12 PM", "9:30 AM"). */
export function shortTimeLabel(ms: number, timeZone: string): string {
  const options: Intl.DateTimeFormatOptions =
    wallMinutes(ms, timeZone) % 60 === 0 ? { hour: 'numeric' } : { hour: 'numeric', minute: '2-digit' }
  return format(timeZone, options).format(ms)
}

/** A civil date in words (`options` as for `toLocaleDateString`). */
export function dayLabel(day: Day, options: Intl.DateTimeFormatOptions): string {
  return format('UTC', options).format(day * DAY_MS)
}

/** An hour of the grid's ruler ("5 AM", "17"). */
export function hourLabel(hour: number): string {
  return format('UTC', { hour: 'numeric' }).format(hour * 3_600_000)
}

/** "Mon 4 Mar, 10:00" in `timeZone`. */
export function instantLabel(ms: number, timeZone: string): string {
  return format(timeZone, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(ms)
}

/** An instant as a `datetime-local` value on `timeZone`'s wall clock. */
export function toZonedInput(ms: number, timeZone: string): string {
  if (!Number.isFinite(ms)) return ''
  const w = wallClock(ms, timeZone)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`
}

/** A `datetime-local` value read on `timeZone`'s wall clock, as an ISO instant; empty when incomplete. */
export function fromZonedInput(value: string, timeZone: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value)
  if (!match) return ''
  const [, y, mo, d, h, mi] = match.map(Number) as [number, number, number, number, number, number]
  const day = dayFromDate(y, mo, d)
  return new Date(zonedInstant(day, h * 60 + mi, timeZone)).toISOString()
}

/** Side-by-side lanes for overlapping intervals: `lane` of `lanes` for each id. */
export function layoutLanes(items: { id: string; start: number; end: number }[]): Map<string, { lane: number; lanes: number }> {
  const sorted = [...items].sort((a, b) => a.start - b.start || a.end - b.end)
  const result = new Map<string, { lane: number; lanes: number }>()
  let cluster: { id: string; lane: number }[] = []
  let laneEnds: number[] = []
  let clusterEnd = -Infinity
  const closeCluster = () => {
    for (const item of cluster) result.set(item.id, { lane: item.lane, lanes: laneEnds.length })
    cluster = []
    laneEnds = []
  }
  for (const item of sorted) {
    if (item.start >= clusterEnd) closeCluster()
    let lane = laneEnds.findIndex((end) => end <= item.start)
    if (lane === -1) lane = laneEnds.push(item.end) - 1
    else laneEnds[lane] = item.end
    cluster.push({ id: item.id, lane })
    clusterEnd = Math.max(clusterEnd, item.end)
  }
  closeCluster()
  return result
}
