/**
 * Free intervals between busy ones. Pure: no I/O.
 */
import type { Interval } from './slotRequest.js'

/**
 * The free gaps of at least `durationMs` inside `window`, earliest first, at most
 * `limit` of them. Each gap is maximal: it starts where a busy interval (or the
 * window) ends and ends where the next busy interval (or the window) starts.
 * Busy intervals are half-open, so a gap may start exactly where one ends.
 */
export function freeSlots(busy: readonly Interval[], window: Interval, durationMs: number, limit: number): Interval[] {
  if (durationMs <= 0 || limit <= 0 || window.end - window.start < durationMs) return []
  const sorted = busy.filter((b) => b.start < window.end && b.end > window.start && b.start < b.end).sort((a, b) => a.start - b.start)
  const slots: Interval[] = []
  let cursor = window.start
  for (const b of sorted) {
    if (b.start - cursor >= durationMs) {
      slots.push({ start: cursor, end: b.start })
      if (slots.length >= limit) return slots
    }
    cursor = Math.max(cursor, b.end)
    if (cursor >= window.end) return slots
  }
  if (window.end - cursor >= durationMs) slots.push({ start: cursor, end: window.end })
  return slots
}
