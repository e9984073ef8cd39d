/**
 * Property: whatever sequence of create / move / cancel / delete / retry arrives, over
 * REST or from live editors (some of them offline until the end of the step, then
 * reconnecting in random order), no attendee or room ever has two overlapping confirmed
 * events — in the ledger and in the stored documents — after every step.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { fieldsOf, readFields } from '../shared/docLayout.js'
import { newRecordId } from '../shared/docNames.js'
import { BASE, MIN, doubleBookings, eventProvider, iso, ledgerDoubleBookings, setSlot, settled, storedEvents } from './calendar.helpers.js'
import { describeBackends } from './helpers/backends.js'
import { type Api, type TestServer, startSeeded, synced, until } from './helpers/server.js'

const EVENTS = 5
const ATTENDEES = 3
const ROOMS = 2
const SLOTS_PER_DAY = 8
const STEP_MIN = 30

type Kind = 'create' | 'move' | 'cancel' | 'delete' | 'retry'
interface Op {
  kind: Kind
  event: number
  start: number
  length: number
  attendees: number[]
  room: number
  live: boolean
  offline: boolean
}

const op = fc.record({
  kind: fc.constantFrom<Kind>('create', 'create', 'move', 'move', 'cancel', 'delete', 'retry'),
  event: fc.integer({ min: 0, max: EVENTS - 1 }),
  start: fc.integer({ min: 0, max: SLOTS_PER_DAY - 1 }),
  length: fc.integer({ min: 1, max: 3 }),
  attendees: fc.uniqueArray(fc.integer({ min: 0, max: ATTENDEES - 1 }), { maxLength: 2 }),
  room: fc.integer({ min: -1, max: ROOMS - 1 }),
  live: fc.boolean(),
  offline: fc.boolean(),
})
const steps = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 })

interface Event {
  id: string
  provider?: WebsocketProvider
  deleted: boolean
}

const slotFieldsOf = (slot: { start: number; end: number; attendees: string[]; room: string }) => ({
  start: iso(slot.start),
  end: iso(slot.end),
  attendees: slot.attendees,
  room: slot.room,
})

describeBackends('calendar authority property', (backend) => {
  let t: TestServer
  let api: Api

  beforeAll(async () => {
    ;({
      t,
      api: { member: api },
    } = await startSeeded(['member'], backend.options(), 'prop'))
  })
  afterAll(() => t.close())

  let run = 0

  async function runSequence(sequence: Op[][], reconnectOrder: number[]): Promise<void> {
    const prefix = `r${run++}`
    const events = new Map<number, Event>()
    const slotOf = (o: Op) => ({
      start: BASE + o.start * STEP_MIN * MIN,
      end: BASE + (o.start + o.length) * STEP_MIN * MIN,
      attendees: o.attendees.map((a) => `${prefix}-u${a}`),
      room: o.room < 0 ? '' : `${prefix}-room${o.room}`,
    })
    const liveDoc = async (e: Event) => {
      e.provider ??= eventProvider(t.wsUrl, `prop/events/${e.id}`, api.token)
      if (!e.provider.wsconnected && !e.provider.shouldConnect) e.provider.connect()
      await synced(e.provider)
      return e.provider
    }
    try {
      for (const step of sequence) {
        const seen = new Set<number>()
        const offline: WebsocketProvider[] = []
        const deliveries: Promise<unknown>[] = []
        for (const o of step) {
          if (seen.has(o.event)) continue
          seen.add(o.event)
          const e = events.get(o.event)
          if (e?.deleted) continue
          if (!e) {
            if (o.kind !== 'create') continue
            if (o.live) {
              const id = newRecordId()
              const created: Event = { id, deleted: false }
              events.set(o.event, created)
              const p = await liveDoc(created)
              setSlot(p.doc, slotOf(o), { title: `${prefix} ${o.event}`, status: 'scheduled' })
            } else {
              const res = await api.request('POST', '/api/records/events', { title: `${prefix} ${o.event}`, ...slotFieldsOf(slotOf(o)) })
              expect(res.status).toBe(201)
              events.set(o.event, { id: res.body.id, deleted: false })
            }
            continue
          }
          deliveries.push(deliver(o, e, slotOf(o), liveDoc, offline))
        }
        await Promise.all(deliveries)
        for (const i of reconnectOrder) offline.splice(i % Math.max(offline.length, 1), 1)[0]?.connect()
        offline.forEach((p) => p.connect())
        const ids = [...events.values()].map((e) => e.id)
        await until(async () => (await arrived(events)) && (await settled(t.server, 'prop', ids)), 'the step is stored and decided')
        expect(await doubleBookings(t.server, 'prop', ids)).toEqual([])
        expect(await ledgerDoubleBookings(t.server)).toBe(0)
      }
    } finally {
      for (const e of events.values()) e.provider?.destroy()
    }
  }

  async function deliver(
    o: Op,
    e: Event,
    slot: { start: number; end: number; attendees: string[]; room: string },
    liveDoc: (e: Event) => Promise<WebsocketProvider>,
    offline: WebsocketProvider[],
  ): Promise<void> {
    if (o.kind === 'delete') {
      e.deleted = true
      expect((await api.request('DELETE', `/api/records/events/${e.id}`)).status).toBe(204)
      return
    }
    if (o.kind === 'retry') {
      expect((await api.request('POST', `/api/calendar/events/${e.id}/retry`)).status).toBe(200)
      return
    }
    const change = o.kind === 'cancel' ? { status: 'cancelled' } : { ...slotFieldsOf(slot), status: 'scheduled' }
    if (!o.live) {
      expect((await api.request('PATCH', `/api/records/events/${e.id}`, change)).status).toBe(200)
      return
    }
    const p = await liveDoc(e)
    if (o.offline) {
      p.disconnect()
      offline.push(p)
    }
    p.doc.transact(() => {
      for (const [key, value] of Object.entries(change)) fieldsOf(p.doc).set(key, value)
    })
  }

  /** Every live editor is connected and its fields are what the server stored. */
  async function arrived(events: Map<number, Event>): Promise<boolean> {
    const stored = new Map((await storedEvents(t.server, 'prop')).map((s) => [s.id, s]))
    for (const e of events.values()) {
      if (!e.provider || e.deleted) continue
      if (!e.provider.synced) return false
      if (JSON.stringify(stored.get(e.id)?.fields) !== JSON.stringify(readFields(e.provider.doc, 'events'))) return false
    }
    return true
  }

  it('[P1] no attendee or room ever holds two overlapping confirmed events, whatever arrives in whatever order', async () => {
    const startedAt = Date.now()
    await fc.assert(
      fc.asyncProperty(steps, fc.array(fc.nat(8), { maxLength: 4 }), (sequence, order) => runSequence(sequence, order)),
      { numRuns: 25, endOnFailure: true },
    )
    expect(Date.now() - startedAt).toBeLessThan(60_000)
  }, 90_000)
})
