/** Week-view arithmetic in the browser's local time. Pure. */

export const DAY_MS = 86_400_000
/** First and last hour shown in the week view. */
export const FIRST_HOUR = 7
export const LAST_HOUR = 20
/** Minutes per grid slot. @default 30 */
export const SLOT_MINUTES = 30
/** Height of one slot, in CSS pixels. @default 24 */
export const SLOT_PX = 24
export const SLOTS_PER_DAY = ((LAST_HOUR - FIRST_HOUR) * 60) / SLOT_MINUTES

/** Local midnight of the Monday of `date`'s week. */
export function startOfWeek(date: Date): Date {
  const d = new Date(date.getFullYear(), date.getMonth(), date.getDate())
  d.setDate(d.getDate() - ((d.getDay() + 6) % 7))
  return d
}

export function addDays(date: Date, days: number): Date {
  const d = new Date(date)
  d.setDate(d.getDate() + days)
  return d
}

/** The instant at grid slot `slot` of `day` (local midnight). */
export function slotTime(day: Date, slot: number): Date {
  const d = new Date(day)
  d.setHours(FIRST_HOUR, slot * SLOT_MINUTES, 0, 0)
  return d
}

/** Vertical placement of an interval within a day column, in pixels; null when outside the day. */
export function placement(day: Date, start: Date, end: Date): { top: number; height: number } | null {
  const dayStart = slotTime(day, 0).getTime()
  const dayEnd = slotTime(day, SLOTS_PER_DAY).getTime()
  const s = Math.max(start.getTime(), dayStart)
  const e = Math.min(end.getTime(), dayEnd)
  if (e <= s) return null
  const pxPerMs = SLOT_PX / (SLOT_MINUTES * 60_000)
  return { top: (s - dayStart) * pxPerMs, height: Math.max((e - s) * pxPerMs, SLOT_PX / 2) }
}

export function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate()
}

/** The shortest time label, for a block too narrow for {@link timeLabel}: no `:00` on the hour ("12 PM", "9:30 AM"). */
export function shortTimeLabel(date: Date): string {
  return date.toLocaleTimeString(undefined, date.getMinutes() === 0 ? { hour: 'numeric' } : { hour: 'numeric', minute: '2-digit' })
}

export function timeLabel(date: Date): string {
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
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
