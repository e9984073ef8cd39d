import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import type { Reservation } from '../shared/collections.js'
import { authorityOf, fieldsOf } from '../shared/docLayout.js'
import { newRecordId } from '../shared/docNames.js'
import { slotRequestOf } from '../server/authority/slotRequest.js'
import {
  BASE,
  MIN,
  createEvent,
  decided,
  doubleBookings,
  eventProvider,
  iso,
  ledgerDoubleBookings,
  reservationIn,
  setSlot,
  settled,
  storedEvents,
} from './calendar.helpers.js'
import { describeBackends, restartSeeded } from './helpers/backends.js'
import { type Api, type SeededUsers, type TestServer, startSeeded, synced, until } from './helpers/server.js'

describeBackends('calendar', (backend) => {
  let t: TestServer
  let owner: Api
  let member: Api
  let users: SeededUsers

  beforeAll(async () => {
    ;({
      t,
      users,
      api: { owner, member },
    } = await startSeeded(['owner', 'member'], backend.options()))
  })
  afterAll(() => t.close())

  const restartServer = async () => {
    ;({
      t,
      api: { owner, member },
    } = await restartSeeded(t, users, ['owner', 'member']))
  }

  async function reservation(id: string): Promise<Reservation | undefined> {
    const res = await owner.request('GET', `/api/records/events/${id}`)
    return res.body.reservation as Reservation | undefined
  }

  async function decidedRest(id: string): Promise<Reservation> {
    let r: Reservation | undefined
    await until(async () => ['confirmed', 'conflict'].includes((r = await reservation(id))?.status ?? ''), `decision of ${id}`)
    return r!
  }

  describe('calendar authority', () => {
    it('[C1] 50 providers racing for overlapping slots: one confirmed per overlapping set, the rest name the winner; ledger and documents agree after a restart', async () => {
      const attendee = users.member2.id
      const sets = 5
      const perSet = 10
      const providers: { p: WebsocketProvider; id: string; set: number }[] = []
      for (let set = 0; set < sets; set++) {
        for (let i = 0; i < perSet; i++) {
          const id = newRecordId()
          providers.push({ p: eventProvider(t.wsUrl, `acme/events/${id}`, i % 2 ? member.token : owner.token), id, set })
        }
      }
      await Promise.all(providers.map(({ p }) => synced(p)))
      for (const { p, set } of providers) {
        const start = BASE + set * 120 * MIN + Math.floor(Math.random() * 10) * MIN
        setSlot(p.doc, { start, end: start + 60 * MIN, attendees: [attendee] }, { title: `race ${set}`, status: 'scheduled' })
      }
      await until(() => providers.every(({ p }) => decided(p.doc)), 'every provider sees a decision')
      for (let set = 0; set < sets; set++) {
        const members = providers.filter((x) => x.set === set)
        const winners = members.filter(({ p }) => reservationIn(p.doc)!.status === 'confirmed')
        expect(winners).toHaveLength(1)
        for (const { p } of members) {
          if (p === winners[0]!.p) expect(reservationIn(p.doc)!.conflictsWith).toEqual([])
          else expect(reservationIn(p.doc)).toMatchObject({ status: 'conflict', conflictsWith: [winners[0]!.id] })
        }
      }
      const ids = providers.map((x) => x.id)
      await until(() => settled(t.server, 'acme', ids), 'ledger and documents agree')
      expect(await doubleBookings(t.server, 'acme', ids)).toEqual([])
      const before = await t.server.ledger.entries('acme')
      const docs = new Map(providers.map(({ p, id }) => [id, JSON.stringify(reservationIn(p.doc))]))
      providers.forEach(({ p }) => p.destroy())

      await restartServer()
      await t.server.reservations.idle()
      expect(await t.server.ledger.entries('acme')).toEqual(before)
      expect(await settled(t.server, 'acme', ids)).toBe(true)
      for (const event of await storedEvents(t.server, 'acme', ids))
        expect(JSON.stringify(event.authority.reservation)).toBe(docs.get(event.id))
      for (const id of ids) {
        const inDoc = await t.server.registry.use(`acme/events/${id}`, (room) => authorityOf(room.doc).get('reservation'))
        expect(JSON.stringify(inDoc)).toBe(docs.get(id))
        expect((await t.server.ledger.entry('acme', id))?.reservation).toEqual(inDoc)
      }
      expect(await ledgerDoubleBookings(t.server)).toBe(0)
    })

    for (const order of ['A then B', 'B then A'] as const) {
      it(`[C2] two offline editors book the same slot and reconnect ${order}: the first to arrive wins, the other is in conflict`, async () => {
        const attendee = `offline-${order}`
        const a = await createEvent(member, { start: BASE, end: BASE + 30 * MIN, attendees: [attendee] })
        const b = await createEvent(member, { start: BASE + 60 * MIN, end: BASE + 90 * MIN, attendees: [attendee] })
        expect((await decidedRest(a)).status).toBe('confirmed')
        expect((await decidedRest(b)).status).toBe('confirmed')
        const pa = eventProvider(t.wsUrl, `acme/events/${a}`, member.token)
        const pb = eventProvider(t.wsUrl, `acme/events/${b}`, owner.token)
        await Promise.all([synced(pa), synced(pb)])
        await until(() => decided(pa.doc) && decided(pb.doc), 'providers hold the decisions')
        pa.disconnect()
        pb.disconnect()
        const slot = { start: BASE + 3 * 60 * MIN, end: BASE + 4 * 60 * MIN, attendees: [attendee] }
        setSlot(pa.doc, slot)
        setSlot(pb.doc, slot)
        const [first, second, firstId, secondId] = order === 'A then B' ? [pa, pb, a, b] : [pb, pa, b, a]
        first.connect()
        await until(() => reservationIn(first.doc)?.start === iso(slot.start) && decided(first.doc), 'first decision')
        second.connect()
        await until(() => reservationIn(second.doc)?.start === iso(slot.start) && decided(second.doc), 'second decision')
        expect(reservationIn(first.doc)).toMatchObject({ status: 'confirmed', start: iso(slot.start) })
        expect(reservationIn(second.doc)).toMatchObject({ status: 'conflict', conflictsWith: [firstId] })
        expect((await reservation(secondId))?.status).toBe('conflict')
        pa.destroy()
        pb.destroy()
      })
    }

    it('[C3] two offline editors reconnecting at the same moment: exactly one wins', async () => {
      const attendee = 'offline-same-moment'
      const ids = [newRecordId(), newRecordId()]
      const ps = ids.map((id) => eventProvider(t.wsUrl, `acme/events/${id}`, member.token, { connect: false }))
      for (const p of ps)
        setSlot(p.doc, { start: BASE, end: BASE + 60 * MIN, attendees: [attendee] }, { title: 'offline', status: 'scheduled' })
      ps.forEach((p) => p.connect())
      await until(() => ps.every((p) => decided(p.doc)), 'both decided')
      expect(ps.map((p) => reservationIn(p.doc)!.status).sort()).toEqual(['confirmed', 'conflict'])
      ps.forEach((p) => p.destroy())
    })

    it('[C4] two tabs of one user (same session, BroadcastChannel on) race for one slot: one winner, both tabs agree', async () => {
      const attendee = 'tabs'
      const x = await createEvent(member, { start: BASE, end: BASE + 30 * MIN, attendees: [attendee] })
      const y = await createEvent(member, { start: BASE + 60 * MIN, end: BASE + 90 * MIN, attendees: [attendee] })
      const tab1 = [x, y].map((id) => eventProvider(t.wsUrl, `acme/events/${id}`, member.token, { bc: true }))
      const tab2 = [x, y].map((id) => eventProvider(t.wsUrl, `acme/events/${id}`, member.token, { bc: true }))
      const all = [...tab1, ...tab2]
      await Promise.all(all.map(synced))
      await until(() => all.every((p) => decided(p.doc)), 'tabs see the first decisions')
      const slot = { start: BASE + 5 * 60 * MIN, end: BASE + 6 * 60 * MIN, attendees: [attendee] }
      setSlot(tab1[0]!.doc, slot)
      setSlot(tab2[1]!.doc, slot)
      const moved = (p: WebsocketProvider) => reservationIn(p.doc)?.start === iso(slot.start) && decided(p.doc)
      await until(() => all.every(moved), 'every tab sees both new decisions')
      const statuses = tab1.map((p) => reservationIn(p.doc)!.status).sort()
      expect(statuses).toEqual(['confirmed', 'conflict'])
      for (let i = 0; i < 2; i++) expect(reservationIn(tab2[i]!.doc)).toEqual(reservationIn(tab1[i]!.doc))
      all.forEach((p) => p.destroy())
    })

    it('[C5] back-to-back events (end == next start) do not conflict', async () => {
      const a = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, attendees: ['b2b'], room: 'B2B room' })
      const b = await createEvent(member, { start: BASE + 60 * MIN, end: BASE + 120 * MIN, attendees: ['b2b'], room: 'B2B room' })
      expect((await decidedRest(a)).status).toBe('confirmed')
      expect((await decidedRest(b)).status).toBe('confirmed')
    })

    it('[C6] a shared room conflicts even with different attendees (room names compare without case or surrounding spaces)', async () => {
      const a = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, attendees: ['room-x'], room: 'Boardroom' })
      const b = await createEvent(owner, { start: BASE + 30 * MIN, end: BASE + 90 * MIN, attendees: ['room-y'], room: ' boardroom' })
      expect((await decidedRest(a)).status).toBe('confirmed')
      expect(await decidedRest(b)).toMatchObject({ status: 'conflict', conflictsWith: [a] })
    })

    it('[C7] cancelling or deleting frees the slot; the waiting event stays in conflict with an empty list until its owner retries', async () => {
      const slot = { start: BASE, end: BASE + 60 * MIN, attendees: ['free-me'] }
      const a = await createEvent(member, slot)
      expect((await decidedRest(a)).status).toBe('confirmed')
      const b = await createEvent(owner, slot)
      expect(await decidedRest(b)).toMatchObject({ status: 'conflict', conflictsWith: [a] })

      expect((await member.request('PATCH', `/api/records/events/${a}`, { status: 'cancelled' })).status).toBe(200)
      await until(async () => (await reservation(a)) === undefined, 'the cancelled event holds nothing')
      await until(async () => (await reservation(b))?.conflictsWith.length === 0, 'the waiting event learns the slot is free')
      expect((await reservation(b))?.status).toBe('conflict')

      const retry = await owner.request('POST', `/api/calendar/events/${b}/retry`)
      expect(retry.status).toBe(200)
      expect(retry.body.reservation).toMatchObject({ status: 'confirmed' })
      await until(async () => (await reservation(b))?.status === 'confirmed', 'retry confirmed in the document')

      const c = await createEvent(member, slot)
      expect(await decidedRest(c)).toMatchObject({ status: 'conflict', conflictsWith: [b] })
      expect((await owner.request('DELETE', `/api/records/events/${b}`)).status).toBe(204)
      await until(async () => (await t.server.ledger.entry('acme', b))?.reservation === null, 'deletion released the slot')
      const p = eventProvider(t.wsUrl, `acme/events/${c}`, member.token)
      await synced(p)
      await until(() => reservationIn(p.doc)?.conflictsWith.length === 0, 'the waiting editor sees the slot free')
      fieldsOf(p.doc).set('start', fieldsOf(p.doc).get('start'))
      await until(() => reservationIn(p.doc)?.status === 'confirmed', 'rewriting the slot live retries it')
      p.destroy()
    })

    it('[C8] an event moved out of a conflict is decided again', async () => {
      const a = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, room: 'Move room' })
      const b = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, room: 'Move room' })
      expect((await decidedRest(b)).status).toBe('conflict')
      await member.request('PATCH', `/api/records/events/${b}`, { start: iso(BASE + 60 * MIN), end: iso(BASE + 90 * MIN) })
      await until(async () => (await reservation(b))?.status === 'confirmed', 'moved event confirmed')
      await member.request('PATCH', `/api/records/events/${a}`, { start: iso(BASE + 30 * MIN), end: iso(BASE + 75 * MIN) })
      await until(async () => (await reservation(a))?.status === 'conflict', 'a moved into b loses its slot')
      expect((await reservation(a))?.conflictsWith).toEqual([b])
    })

    it('[C9] a client forging reservation.status = confirmed is reverted', async () => {
      const slot = { start: BASE, end: BASE + 60 * MIN, attendees: ['forger'] }
      const a = await createEvent(member, slot)
      const b = await createEvent(member, slot)
      const forged = await decidedRest(b)
      expect(forged.status).toBe('conflict')
      const p = eventProvider(t.wsUrl, `acme/events/${b}`, member.token)
      await synced(p)
      await until(() => decided(p.doc), 'provider has the decision')
      authorityOf(p.doc).set('reservation', { ...forged, status: 'confirmed', conflictsWith: [] })
      await until(() => reservationIn(p.doc)?.status === 'conflict', 'forgery reverted on the client')
      expect(await reservation(b)).toEqual(forged)
      expect((await t.server.ledger.entry('acme', b))?.reservation).toEqual(forged)
      expect((await reservation(a))?.status).toBe('confirmed')
      p.destroy()
    })

    it('[C10] naive timestamps are rejected with a clear error', async () => {
      const res = await member.request('POST', '/api/records/events', {
        title: 'naive',
        start: '2030-01-07T09:00',
        end: '2030-01-07T10:00:00Z',
      })
      expect(res.status).toBe(400)
      expect(res.body.error.issues[0]).toMatchObject({ path: 'start' })
      expect(res.body.error.issues[0].message).toMatch(/time zone/)
      const p = eventProvider(t.wsUrl, `acme/events/${newRecordId()}`, member.token)
      await synced(p)
      setSlot(p.doc, { start: BASE, end: BASE + 60 * MIN, attendees: ['naive'] }, { title: 'live' })
      await until(() => decided(p.doc), 'valid event decided')
      fieldsOf(p.doc).set('start', '2030-01-07T07:00')
      await until(() => fieldsOf(p.doc).get('start') === iso(BASE), 'naive start reverted')
      p.destroy()
    })

    it('[C11] events with an offset are stored and compared as UTC instants', async () => {
      const a = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, attendees: ['tz'] })
      const res = await member.request('POST', '/api/records/events', {
        title: 'tz',
        start: '2030-01-07T09:30:00+01:00',
        end: '2030-01-07T10:30:00+01:00',
        attendees: ['tz'],
      })
      expect(res.status).toBe(201)
      expect(await decidedRest(res.body.id)).toMatchObject({ status: 'conflict', start: '2030-01-07T08:30:00.000Z', conflictsWith: [a] })
    })
  })

  describe('restart consistency', () => {
    it('[C12] a request stored but never decided (a crash before the decision) is decided at the next start; a decision that never reached its document is written then', async () => {
      const a = await createEvent(member, { start: BASE, end: BASE + 60 * MIN, attendees: ['crash'] })
      await decidedRest(a)
      await t.server.reservations.close()
      const undecided = await createEvent(member, { start: BASE + 30 * MIN, end: BASE + 90 * MIN, attendees: ['crash'] })
      const unmirrored = await createEvent(member, { start: BASE + 120 * MIN, end: BASE + 150 * MIN, attendees: ['crash'] })
      const stored = (await storedEvents(t.server, 'acme', [unmirrored]))[0]!
      await t.server.ledger.decide(slotRequestOf('acme', unmirrored, stored.fields, stored.authority))
      expect(await reservation(undecided)).toBeUndefined()
      expect(await reservation(unmirrored)).toBeUndefined()

      await restartServer()
      expect(await decidedRest(undecided)).toMatchObject({ status: 'conflict', conflictsWith: [a] })
      expect((await decidedRest(unmirrored)).status).toBe('confirmed')
      await until(() => settled(t.server, 'acme'), 'ledger and documents agree')
    })
  })

  describe('free-slot query', () => {
    it('[C13] returns the gaps where every attendee and the room are free together', async () => {
      const fa = await createEvent(member, { start: BASE + 60 * MIN, end: BASE + 120 * MIN, attendees: ['fa'] })
      await createEvent(member, { start: BASE + 150 * MIN, end: BASE + 180 * MIN, attendees: ['fb'] })
      await createEvent(member, { start: BASE + 200 * MIN, end: BASE + 210 * MIN, room: 'Free room' })
      await until(() => settled(t.server, 'acme'), 'decided')
      const q = new URLSearchParams({ attendees: 'fa,fb', room: 'Free room', from: iso(BASE), to: iso(BASE + 300 * MIN), duration: '30' })
      const res = await member.request('GET', `/api/calendar/free?${q}`)
      expect(res.status).toBe(200)
      expect(res.body).toEqual({
        slots: [
          { start: iso(BASE), end: iso(BASE + 60 * MIN) },
          { start: iso(BASE + 120 * MIN), end: iso(BASE + 150 * MIN) },
          { start: iso(BASE + 210 * MIN), end: iso(BASE + 300 * MIN) },
        ],
      })
      const longer = await member.request(
        'GET',
        `/api/calendar/free?${new URLSearchParams({ attendees: 'fa,fb', room: 'Free room', from: iso(BASE), to: iso(BASE + 300 * MIN), duration: '45' })}`,
      )
      expect(longer.body.slots).toHaveLength(2)
      const moving = await member.request(
        'GET',
        `/api/calendar/free?${new URLSearchParams({ attendees: 'fa,fb', room: 'Free room', from: iso(BASE), to: iso(BASE + 300 * MIN), exclude: fa })}`,
      )
      expect(moving.body.slots).toEqual([
        { start: iso(BASE), end: iso(BASE + 150 * MIN) },
        { start: iso(BASE + 210 * MIN), end: iso(BASE + 300 * MIN) },
      ])
    })

    it('[C14] answers bad input in the contract format', async () => {
      const bad = async (query: Record<string, string>) => {
        const res = await member.request('GET', `/api/calendar/free?${new URLSearchParams(query)}`)
        expect(res.status).toBe(400)
        expect(res.body.error.code).toBe('invalid')
        return res.body.error.issues as { path: string; message: string }[]
      }
      expect((await bad({ attendees: 'a', from: '2030-01-07T09:00' }))[0]!.path).toBe('from')
      expect((await bad({ attendees: 'a', duration: '1.5' }))[0]!.path).toBe('duration')
      expect((await bad({ attendees: 'a', duration: 'PT30M' }))[0]!.path).toBe('duration')
      expect((await bad({}))[0]!.path).toBe('attendees')
      expect((await bad({ attendees: 'a', from: iso(BASE), to: iso(BASE - 1) }))[0]!.path).toBe('to')
      const anonymous = await fetch(`${t.url}/api/calendar/free?attendees=a`)
      expect(anonymous.status).toBe(401)
    })
  })
})
