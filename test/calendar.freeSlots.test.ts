import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { freeSlots } from '../server/authority/freeSlots.js'
import { instantMs, requestKey, slotRequestOf } from '../server/authority/slotRequest.js'

describe('freeSlots', () => {
  it('returns the maximal gaps of at least the duration, earliest first', () => {
    const busy = [
      { start: 10, end: 20 },
      { start: 15, end: 30 },
      { start: 40, end: 45 },
    ]
    expect(freeSlots(busy, { start: 0, end: 100 }, 10, 10)).toEqual([
      { start: 0, end: 10 },
      { start: 30, end: 40 },
      { start: 45, end: 100 },
    ])
    expect(freeSlots(busy, { start: 0, end: 100 }, 11, 10)).toEqual([{ start: 45, end: 100 }])
    expect(freeSlots(busy, { start: 0, end: 100 }, 5, 2)).toHaveLength(2)
    expect(freeSlots([], { start: 0, end: 5 }, 10, 10)).toEqual([])
  })

  it('a gap may start exactly where a busy interval ends (half-open)', () => {
    expect(freeSlots([{ start: 0, end: 10 }], { start: 0, end: 20 }, 10, 5)).toEqual([{ start: 10, end: 20 }])
  })

  it('property: slots lie in the window, are long enough, ordered, and never overlap a busy interval', () => {
    const interval = fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 50 })).map(([s, l]) => ({ start: s, end: s + l }))
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 20 }), fc.integer({ min: 1, max: 60 }), (busy, duration) => {
        const window = { start: 20, end: 220 }
        const slots = freeSlots(busy, window, duration, 100)
        let last = -Infinity
        for (const s of slots) {
          expect(s.end - s.start).toBeGreaterThanOrEqual(duration)
          expect(s.start).toBeGreaterThanOrEqual(Math.max(window.start, last))
          expect(s.end).toBeLessThanOrEqual(window.end)
          for (const b of busy) expect(s.start < b.end && b.start < s.end).toBe(false)
          last = s.end
        }
      }),
    )
  })
})

describe('slot requests', () => {
  it('naive timestamps make no request; offsets are normalised to UTC instants', () => {
    expect(instantMs('2030-01-07T09:00')).toBeNull()
    expect(instantMs('2030-01-07T09:00:00+01:00')).toBe(Date.parse('2030-01-07T08:00:00Z'))
    const a = slotRequestOf(
      'w',
      'e',
      { start: '2030-01-07T09:00:00+01:00', end: '2030-01-07T10:00:00+01:00', attendees: ['b', 'a', 'a'] },
      {},
    )
    const b = slotRequestOf('w', 'e', { start: '2030-01-07T08:00:00Z', end: '2030-01-07T09:00:00Z', attendees: ['a', 'b'] }, {})
    expect(requestKey(a)).toBe(requestKey(b))
    expect(slotRequestOf('w', 'e', { start: '2030-01-07T09:00', end: '2030-01-07T10:00:00Z' }, {}).active).toBe(false)
  })

  it('cancelled, deleted, inverted and untitled events ask for nothing', () => {
    const fields = { title: 'Call', start: '2030-01-07T08:00:00Z', end: '2030-01-07T09:00:00Z' }
    expect(slotRequestOf('w', 'e', { ...fields, status: 'cancelled' }, {}).active).toBe(false)
    expect(slotRequestOf('w', 'e', fields, { deleted: '2030-01-01T00:00:00Z' }).active).toBe(false)
    expect(slotRequestOf('w', 'e', { start: fields.end, end: fields.start }, {}).active).toBe(false)
    expect(slotRequestOf('w', 'e', { start: fields.start, end: fields.end }, {}).active).toBe(false)
    expect(slotRequestOf('w', 'e', fields, {}).active).toBe(true)
  })
})
