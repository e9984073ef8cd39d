/**
 * The ReservationLedger contract, one suite for every implementation: SQLite on a real
 * file, PostgreSQL on a fresh database (test/helpers/pg.ts; skipped with one line when no
 * PostgreSQL is reachable, except on CI).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ReservationLedger } from '../server/authority/ReservationLedger.js'
import { PgReservationLedger } from '../server/authority/PgReservationLedger.js'
import { SqliteReservationLedger } from '../server/authority/SqliteReservationLedger.js'
import { type SlotRequest, attendeeResource, resourcesOf, roomResource, slotRequestOf } from '../server/authority/slotRequest.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

const H = 3600_000
const T0 = Date.parse('2030-01-07T08:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

function req(eventId: string, fromH: number, toH: number, attendees: string[] = [], room = '', workspace = 'w'): SlotRequest {
  return slotRequestOf(
    workspace,
    eventId,
    { title: eventId, start: iso(T0 + fromH * H), end: iso(T0 + toH * H), attendees, room, status: 'scheduled' },
    {},
  )
}
const cancelled = (eventId: string, workspace = 'w') => slotRequestOf(workspace, eventId, { status: 'cancelled' }, {})

interface Subject {
  ledger: ReservationLedger
  /** Leaves nothing behind for the next test. */
  close(): void | Promise<void>
}

/**
 * `setup` runs inside the suite's `describe`, so it may register `beforeAll`/`afterAll`
 * hooks for what its subjects share (a database), and returns how to make one subject.
 */
function ledgerContract(name: string, setup: () => () => Subject | Promise<Subject>, skip = false): void {
  describe.skipIf(skip)(`ReservationLedger contract: ${name}`, () => {
    const make = setup()
    let s: Subject
    let ledger: ReservationLedger
    beforeEach(async () => {
      s = await make()
      ledger = s.ledger
    })
    afterEach(() => s.close())

    it('[L1] confirms a request nobody holds', async () => {
      const d = await ledger.decide(req('a', 1, 2, ['u1']))
      expect(d.reservation).toEqual({ status: 'confirmed', start: iso(T0 + H), end: iso(T0 + 2 * H), conflictsWith: [] })
      expect(d.updated).toEqual([])
    })

    it('[L2] an overlapping request for a shared attendee is a conflict naming the holder', async () => {
      await ledger.decide(req('a', 1, 3, ['u1', 'u2']))
      const d = await ledger.decide(req('b', 2, 4, ['u2', 'u3']))
      expect(d.reservation).toMatchObject({ status: 'conflict', conflictsWith: ['a'] })
    })

    it('[L3] intervals are half-open: back-to-back requests both confirm', async () => {
      await ledger.decide(req('a', 1, 2, ['u1'], 'R'))
      expect((await ledger.decide(req('b', 2, 3, ['u1'], 'R'))).reservation?.status).toBe('confirmed')
      expect((await ledger.decide(req('c', 0, 1, ['u1'], 'R'))).reservation?.status).toBe('confirmed')
    })

    it('[L4] a shared room conflicts even with different attendees; different rooms do not', async () => {
      await ledger.decide(req('a', 1, 2, ['u1'], 'Boardroom'))
      expect((await ledger.decide(req('b', 1, 2, ['u2'], 'Boardroom'))).reservation).toMatchObject({
        status: 'conflict',
        conflictsWith: ['a'],
      })
      expect((await ledger.decide(req('c', 1, 2, ['u3'], 'Kitchen'))).reservation?.status).toBe('confirmed')
    })

    it('[L5] a conflict names every holder it collides with', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      await ledger.decide(req('b', 2, 3, [], 'R'))
      expect((await ledger.decide(req('c', 1, 3, ['u1'], 'R'))).reservation?.conflictsWith).toEqual(['a', 'b'])
    })

    it('[L6] deciding an unchanged confirmed request again keeps it confirmed', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      expect((await ledger.decide(req('a', 1, 2, ['u1']))).reservation?.status).toBe('confirmed')
    })

    it('[L7] an inactive request frees the slot; waiting events stay in conflict with an empty list', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      await ledger.decide(req('b', 1, 2, ['u1']))
      const d = await ledger.decide(cancelled('a'))
      expect(d.reservation).toBeNull()
      expect(d.updated).toEqual([
        { eventId: 'b', reservation: { status: 'conflict', start: iso(T0 + H), end: iso(T0 + 2 * H), conflictsWith: [] } },
      ])
      expect((await ledger.entry('w', 'b'))?.reservation?.status).toBe('conflict')
      expect((await ledger.decide(req('b', 1, 2, ['u1']))).reservation?.status).toBe('confirmed')
    })

    it('[L8] moving a confirmed event frees its old slot and may lose the new one', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      await ledger.decide(req('b', 3, 4, ['u1']))
      expect((await ledger.decide(req('a', 3, 5, ['u1']))).reservation).toMatchObject({ status: 'conflict', conflictsWith: ['b'] })
      expect((await ledger.decide(req('c', 1, 2, ['u1']))).reservation?.status).toBe('confirmed')
    })

    it('[L9] a newly confirmed slot is added to the lists of events waiting for it', async () => {
      await ledger.decide(req('a', 1, 3, ['u1']))
      await ledger.decide(req('w', 1, 3, ['u1', 'u2']))
      await ledger.decide(cancelled('a'))
      const d = await ledger.decide(req('n', 2, 4, ['u2']))
      expect(d.reservation?.status).toBe('confirmed')
      expect(d.updated).toEqual([{ eventId: 'w', reservation: expect.objectContaining({ status: 'conflict', conflictsWith: ['n'] }) }])
    })

    it('[L10] an event moved out of conflict is confirmed', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      await ledger.decide(req('b', 1, 2, ['u1']))
      expect((await ledger.decide(req('b', 2, 3, ['u1']))).reservation?.status).toBe('confirmed')
    })

    it('[L11] workspaces do not share resources', async () => {
      await ledger.decide(req('a', 1, 2, ['u1'], 'R', 'w1'))
      expect((await ledger.decide(req('a', 1, 2, ['u1'], 'R', 'w2'))).reservation?.status).toBe('confirmed')
    })

    it('[L12] busy lists only confirmed intervals of the given resources within the window', async () => {
      await ledger.decide(req('a', 1, 2, ['u1']))
      await ledger.decide(req('b', 1, 2, ['u1']))
      await ledger.decide(req('c', 5, 6, [], 'R'))
      await ledger.decide(req('d', 9, 10, ['u1']))
      const busy = await ledger.busy('w', [attendeeResource('u1'), roomResource('R')], { start: T0, end: T0 + 8 * H })
      expect(busy.sort((x, y) => x.start - y.start)).toEqual([
        { start: T0 + H, end: T0 + 2 * H },
        { start: T0 + 5 * H, end: T0 + 6 * H },
      ])
      expect(await ledger.busy('w', [attendeeResource('u1'), roomResource('R')], { start: T0, end: T0 + 8 * H }, 'a')).toEqual([
        { start: T0 + 5 * H, end: T0 + 6 * H },
      ])
    })

    it('[L13] entries report the last decision and the request it was made for', async () => {
      const request = req('a', 1, 2, ['u1'])
      await ledger.decide(request)
      await ledger.decide(cancelled('b'))
      const entries = await ledger.entries('w')
      expect(entries.map((e) => [e.eventId, e.reservation?.status ?? null])).toEqual([
        ['a', 'confirmed'],
        ['b', null],
      ])
      expect(await ledger.entry('w', 'zzz')).toBeUndefined()
    })

    it('[L14] a thousand random decisions never leave two overlapping confirmed slots', async () => {
      let seed = 7
      const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
      const held = new Map<string, { start: number; end: number; resources: string[] }>()
      for (let i = 0; i < 1000; i++) {
        const id = `e${rand(40)}`
        const from = rand(20)
        const r = rand(5) === 0 ? cancelled(id) : req(id, from, from + 1 + rand(4), [`u${rand(4)}`], rand(2) ? `R${rand(3)}` : '')
        const d = await ledger.decide(r)
        held.delete(id)
        if (d.reservation?.status === 'confirmed') held.set(id, { start: r.start, end: r.end, resources: resourcesOf(r) })
      }
      const list = [...held.values()]
      for (let i = 0; i < list.length; i++)
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i]!
          const b = list[j]!
          const shared = a.resources.some((x) => b.resources.includes(x))
          expect(shared && a.start < b.end && b.start < a.end).toBe(false)
        }
    })
  })
}

ledgerContract('SQLite', () => () => {
  const dir = tempDir('accord-ledger-')
  const db: Db = openDatabase(join(dir, 'ledger.db'))
  return {
    ledger: new SqliteReservationLedger(db),
    close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

ledgerContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return () => ({
      ledger: new PgReservationLedger(database.pool),
      close: async () => {
        await database.pool.query('TRUNCATE reservations, reservation_slots')
      },
    })
  },
  skipPg,
)

describe('SQLite ledger specifics', () => {
  it('the table itself refuses a second overlapping confirmed slot (the stand-in for an exclusion constraint)', () => {
    const d = tempDir('accord-ledger-')
    const file = openDatabase(join(d, 'ledger.db'))
    const insert = file.prepare(
      'INSERT INTO reservation_slots (workspace, resource, event_id, held, start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?)',
    )
    insert.run('w', 'room:R', 'a', 1, 0, 10)
    insert.run('w', 'room:R', 'b', 0, 5, 15)
    insert.run('w', 'room:R', 'c', 1, 10, 20)
    expect(() => insert.run('w', 'room:R', 'd', 1, 9, 11)).toThrow(/overlapping confirmed reservation/)
    file.close()
    rmSync(d, { recursive: true, force: true })
  })
})
