/** The calendar's time-zone arithmetic and its conflict words, pure: no browser, no server. */
import { describe, expect, it } from 'vitest'
import {
  byDay,
  dayFromDate,
  dayOf,
  fromZonedInput,
  HOUR_PX,
  monthGrid,
  placement,
  toZonedInput,
  wallMinutes,
  weekdayOf,
  zonedInstant,
} from '../client/src/calendarMath.js'
import { clashWords } from '../client/src/components/ReservationPanel.js'
import type { IndexEntry } from '../shared/docLayout.js'

const at = (iso: string) => Date.parse(iso)

describe('calendar time zones', () => {
  it('reads one instant as a different day and hour in Tokyo and Los Angeles', () => {
    const instant = at('2026-03-02T20:30:00Z')
    expect(dayOf(instant, 'Asia/Tokyo')).toBe(dayFromDate(2026, 3, 3))
    expect(wallMinutes(instant, 'Asia/Tokyo')).toBe(5 * 60 + 30)
    expect(dayOf(instant, 'America/Los_Angeles')).toBe(dayFromDate(2026, 3, 2))
    expect(wallMinutes(instant, 'America/Los_Angeles')).toBe(12 * 60 + 30)
  })

  it('finds the instant of a wall time, across the spring-forward night too', () => {
    expect(new Date(zonedInstant(dayFromDate(2026, 1, 5), 9 * 60, 'Europe/Oslo')).toISOString()).toBe('2026-01-05T08:00:00.000Z')
    expect(new Date(zonedInstant(dayFromDate(2026, 7, 6), 9 * 60, 'Europe/Oslo')).toISOString()).toBe('2026-07-06T07:00:00.000Z')
    // 29 March 2026: Oslo's clocks jump from 02:00 to 03:00; 04:00 is 02:00 UTC.
    expect(new Date(zonedInstant(dayFromDate(2026, 3, 29), 4 * 60, 'Europe/Oslo')).toISOString()).toBe('2026-03-29T02:00:00.000Z')
    expect(fromZonedInput('2026-03-02T10:15', 'Asia/Kolkata')).toBe('2026-03-02T04:45:00.000Z')
    expect(toZonedInput(at('2026-03-02T04:45:00Z'), 'Asia/Kolkata')).toBe('2026-03-02T10:15')
    expect(fromZonedInput('2026-03-02T10:', 'UTC')).toBe('')
  })

  it('places an early-morning event at its hour of the zone, and a night event over two days', () => {
    const monday = dayFromDate(2026, 3, 2)
    expect(placement(monday, at('2026-03-02T05:00:00Z'), at('2026-03-02T06:00:00Z'), 'UTC')).toEqual({ top: 5 * HOUR_PX, height: HOUR_PX })
    expect(placement(monday, at('2026-03-02T05:00:00Z'), at('2026-03-02T06:00:00Z'), 'Asia/Tokyo')).toEqual({
      top: 14 * HOUR_PX,
      height: HOUR_PX,
    })
    const night = [{ start: at('2026-03-02T22:00:00Z'), end: at('2026-03-03T02:00:00Z') }]
    expect(placement(monday, night[0]!.start, night[0]!.end, 'UTC')).toEqual({ top: 22 * HOUR_PX, height: 2 * HOUR_PX })
    expect(placement(monday + 1, night[0]!.start, night[0]!.end, 'UTC')).toEqual({ top: 0, height: 2 * HOUR_PX })
    expect([...byDay(night, monday, monday + 6, 'UTC').keys()]).toEqual([monday, monday + 1])
    // Ending at midnight, it does not touch the next day.
    expect([...byDay([{ start: night[0]!.start, end: at('2026-03-03T00:00:00Z') }], monday, monday + 6, 'UTC').keys()]).toEqual([monday])
  })

  it('lays a month out in whole weeks from Monday', () => {
    const days = monthGrid(dayFromDate(2026, 3, 17))
    expect(days.length % 7).toBe(0)
    expect(weekdayOf(days[0]!)).toBe(0)
    expect(days[0]).toBeLessThanOrEqual(dayFromDate(2026, 3, 1))
    expect(days.at(-1)).toBeGreaterThanOrEqual(dayFromDate(2026, 3, 31))
    expect(days.at(-1)! - dayFromDate(2026, 3, 31)).toBeLessThan(7)
  })
})

describe('conflict words', () => {
  const users = [
    { id: 'u-alice', name: 'Alice', email: 'a@x', role: 'member' as const, workspace: 'w', color: '#000' },
    { id: 'u-bob', name: 'Bob', email: 'b@x', role: 'member' as const, workspace: 'w', color: '#000' },
  ]
  const review: IndexEntry = {
    id: 'e1',
    title: 'Q3 review',
    fields: { start: '2026-03-02T10:00:00Z', end: '2026-03-02T11:00:00Z', attendees: ['u-bob', 'u-alice'], room: 'Oslo' },
    authority: {},
    updatedAt: '',
    updatedBy: null,
  }
  const mine = { start: '2026-03-02T10:30:00Z', end: '2026-03-02T11:30:00Z' }

  it('names the attendee and the room that clashed, with the booking in the way', () => {
    const words = (fields: Record<string, unknown>, meId = 'u-alice') => clashWords(fields, ['e1'], [review], users, meId, 'UTC')
    const time = (iso: string) =>
      new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' }).format(at(iso))
    const when = `'Q3 review' ${time('2026-03-02T10:00:00Z')}–${time('2026-03-02T11:00:00Z')}`
    expect(words({ ...mine, attendees: ['u-bob'], room: 'Bergen' })).toEqual([`Bob is booked in ${when}.`])
    expect(words({ ...mine, attendees: [], room: ' oslo ' })).toEqual([`Room oslo is taken by ${when}.`])
    expect(words({ ...mine, attendees: ['u-alice', 'u-bob'], room: 'Oslo' })).toEqual([
      `You and Bob are booked in ${when}; room Oslo is taken.`,
    ])
    // A blocker the user cannot read is not described.
    expect(clashWords({ ...mine, attendees: ['u-bob'] }, ['hidden'], [review], users, 'u-alice', 'UTC')).toEqual([
      'The slot collides with another booking.',
    ])
  })
})
