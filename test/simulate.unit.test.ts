/** The simulator's invariant checks and percentiles, on hand-made observations. */
import { describe, expect, it } from 'vitest'
import { checkConverged, checkEditsPresent, checkJobsFinished, checkNoDoubleBooking, clash } from '../server/sim/invariants.js'
import { percentile, restKindOf } from '../server/sim/latency.js'

const ev = (id: string, start: string, end: string, extra: Record<string, unknown> = {}) => ({
  id,
  start,
  end,
  reservation: { status: 'confirmed' },
  ...extra,
})

describe('simulation invariants', () => {
  it('[SIMU1] two confirmed events sharing a room or a person and overlapping are a double booking', () => {
    const a = ev('a', '2031-01-01T09:00:00Z', '2031-01-01T10:00:00Z', { room: 'Atlas' })
    const b = ev('b', '2031-01-01T09:30:00Z', '2031-01-01T10:30:00Z', { room: 'Atlas' })
    const c = ev('c', '2031-01-01T10:00:00Z', '2031-01-01T11:00:00Z', { room: 'Atlas' })
    const d = ev('d', '2031-01-01T09:00:00Z', '2031-01-01T10:00:00Z', { attendees: ['u1'], room: 'Cosmos' })
    const e = ev('e', '2031-01-01T09:00:00Z', '2031-01-01T10:00:00Z', { attendees: ['u1', 'u2'] })
    expect(clash(a, b)).toBe(true)
    expect(clash(a, c)).toBe(false)
    expect(clash(d, e)).toBe(true)
    expect(checkNoDoubleBooking([a, b])).toHaveLength(1)
    expect(checkNoDoubleBooking([a, { ...b, reservation: { status: 'conflict' } }])).toEqual([])
    expect(checkNoDoubleBooking([a, { ...b, status: 'cancelled' }])).toEqual([])
  })

  it('[SIMU2] a replica that differs from the server, or a lost edit, is reported', () => {
    const server = { holder: 'server', notes: 'x', fields: { a: 1, b: 2 } }
    expect(checkConverged('d', server, [{ holder: 'u1', notes: 'x', fields: { b: 2, a: 1 } }])).toEqual([])
    expect(checkConverged('d', server, [{ holder: 'u1', notes: 'y', fields: { a: 1, b: 2 } }])).toHaveLength(1)
    expect(checkConverged('d', server, [{ holder: 'u1', notes: 'x', fields: { a: 2, b: 2 } }])).toHaveLength(1)
    expect(checkEditsPresent('d', '⟦r:1.0⟧ hi ⟦r:1.1⟧', ['r:1.0', 'r:1.1'])).toEqual([])
    expect(checkEditsPresent('d', '⟦r:1.0⟧ hi', ['r:1.0', 'r:1.1'])).toHaveLength(1)
  })

  it('[SIMU3] a job that is neither succeeded nor failed did not finish', () => {
    expect(
      checkJobsFinished([
        { id: '1', status: 'succeeded' },
        { id: '2', status: 'failed' },
      ]),
    ).toEqual([])
    expect(checkJobsFinished([{ id: '3', status: 'running' }])).toHaveLength(1)
  })

  it('[SIMU4] percentiles are nearest-rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(values, 50)).toBe(50)
    expect(percentile(values, 99)).toBe(99)
    expect(percentile([], 50)).toBeNull()
  })

  it('[SIMU5] a REST call is reported under its kind', () => {
    expect(restKindOf('POST', '/api/records/deals')).toBe('create')
    expect(restKindOf('POST', '/api/records/events')).toBe('booking')
    expect(restKindOf('PATCH', '/api/records/deals/d1')).toBe('patch')
    expect(restKindOf('GET', '/api/records/events/e1')).toBe('read')
    expect(restKindOf('GET', '/api/records/deals?limit=5')).toBe('list')
    expect(restKindOf('POST', '/api/exports')).toBe('export')
    expect(restKindOf('GET', '/api/exports/j1')).toBe('export status')
    expect(restKindOf('GET', '/api/admin/overview')).toBe('GET /api/admin')
  })
})
