/**
 * What only the PostgreSQL ledger has to prove (the shared contract is in
 * test/ledger.contract.test.ts): many processes deciding at once, the database refusing a
 * double booking by itself, and a decision whose COMMIT outcome was lost with its connection.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { PgReservationLedger } from '../server/authority/PgReservationLedger.js'
import { type SlotRequest, roomResource, slotRequestOf } from '../server/authority/slotRequest.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { withPgProxy } from './helpers/pgProxy.js'

const MIN = 60_000
const T0 = Date.parse('2030-01-07T08:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

function req(eventId: string, start: number, end: number, attendees: string[], room = ''): SlotRequest {
  return slotRequestOf('w', eventId, { title: eventId, start: iso(start), end: iso(end), attendees, room, status: 'scheduled' }, {})
}
const cancelled = (eventId: string) => slotRequestOf('w', eventId, { status: 'cancelled' }, {})

describe.skipIf(skipPg)('PostgreSQL ledger', () => {
  const database = useMigratedDatabase()
  let pool: Pool
  beforeEach(async () => {
    pool = database.pool
    await pool.query('TRUNCATE reservations, reservation_slots')
  })

  it('[PGL1] 50 connections racing for overlapping slots of one room: exactly one confirmed, 49 conflicts naming it, none lost', async () => {
    // 50 ledgers, each on its own connection: 50 server processes deciding at the same moment.
    const pools = await Promise.all(Array.from({ length: 50 }, () => openPool(database.url, { max: 1 })))
    try {
      const ledgers = pools.map((p) => new PgReservationLedger(p))
      const deadlocksBefore = await deadlocks(pool)
      const started = performance.now()
      // Every interval contains 09:59, so every two of them overlap; each has its own attendee.
      const decisions = await Promise.allSettled(
        ledgers.map((ledger, i) => ledger.decide(req(`e${i}`, T0 + i * MIN, T0 + 2 * 60 * MIN, [`u${i}`], 'Boardroom'))),
      )
      const elapsed = performance.now() - started
      expect(decisions.filter((d) => d.status === 'rejected')).toEqual([])
      const reservations = decisions.map((d) => (d.status === 'fulfilled' ? d.value.reservation : null))
      const confirmed = reservations.flatMap((r, i) => (r?.status === 'confirmed' ? [`e${i}`] : []))
      expect(confirmed).toHaveLength(1)
      const conflicts = reservations.filter((r) => r?.status === 'conflict')
      expect(conflicts).toHaveLength(49)
      for (const conflict of conflicts) expect(conflict?.conflictsWith).toEqual(confirmed)
      const stored = await new PgReservationLedger(pool).entries('w')
      expect(stored.filter((e) => e.reservation?.status === 'confirmed').map((e) => e.eventId)).toEqual(confirmed)
      const held = await pool.query('SELECT event_id FROM reservation_slots WHERE resource = $1 AND held', [roomResource('Boardroom')])
      expect(held.rows).toEqual([{ event_id: confirmed[0] }])
      console.info(
        `[PGL1] 50 racing decisions in ${Math.round(elapsed)} ms; deadlocks detected by PostgreSQL: ${(await deadlocks(pool)) - deadlocksBefore}`,
      )
    } finally {
      await Promise.all(pools.map((p) => p.end()))
    }
  })

  it('[PGL5] 50 connections deciding random requests at once (shared attendees and rooms, moves, cancellations): every decision resolves, none lost to a deadlock', async () => {
    const pools = await Promise.all(Array.from({ length: 50 }, () => openPool(database.url, { max: 1 })))
    try {
      let seed = 3
      const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
      const deadlocksBefore = await deadlocks(pool)
      const started = performance.now()
      for (let round = 0; round < 10; round++) {
        const decisions = await Promise.allSettled(
          pools.map((p) => {
            const id = `e${rand(80)}`
            const from = T0 + rand(10) * 60 * MIN
            const request =
              rand(6) === 0
                ? cancelled(id)
                : req(id, from, from + (1 + rand(3)) * 60 * MIN, [`u${rand(6)}`, `u${rand(6)}`], rand(2) ? `R${rand(2)}` : '')
            return new PgReservationLedger(p).decide(request)
          }),
        )
        expect(decisions.filter((d) => d.status === 'rejected')).toEqual([])
      }
      // Every stored decision agrees with the slots: confirmed events hold theirs, waiting ones hold none.
      const { rows } = await pool.query(`SELECT r.event_id FROM reservations r JOIN reservation_slots s USING (workspace, event_id)
        WHERE s.held <> (r.status = 'confirmed')`)
      expect(rows).toEqual([])
      console.info(
        `[PGL5] 500 decisions by 50 connections in ${Math.round(performance.now() - started)} ms; deadlocks detected: ${(await deadlocks(pool)) - deadlocksBefore}`,
      )
    } finally {
      await Promise.all(pools.map((p) => p.end()))
    }
  })

  it('[PGL2] a double booking inserted by hand, bypassing the code, is refused by the database (23P01)', async () => {
    const insert = (workspace: string, event: string, held: boolean, from: number, to: number) =>
      pool.query(
        `INSERT INTO reservation_slots (workspace, resource, event_id, held, during)
         VALUES ($1, 'room:r', $2, $3, tstzrange($4::timestamptz, $5::timestamptz, '[)'))`,
        [workspace, event, held, iso(T0 + from * MIN), iso(T0 + to * MIN)],
      )
    await insert('w', 'a', true, 0, 10)
    await insert('w', 'b', false, 5, 15) // waiting: holds nothing
    await insert('w', 'c', true, 10, 20) // back to back: [) intervals do not overlap
    await insert('w2', 'd', true, 0, 10) // another workspace
    await expect(insert('w', 'e', true, 9, 11)).rejects.toMatchObject({ code: '23P01' })
  })

  it('[PGL3] a COMMIT whose reply is lost: the decision key finds the stored decision, nothing is decided twice', async () => {
    const ledger = new PgReservationLedger(pool)
    await ledger.decide(req('a', T0, T0 + 60 * MIN, ['u1']))
    await ledger.decide(req('b', T0, T0 + 60 * MIN, ['u1']))
    await withPgProxy(database.url, async (proxy) => {
      proxy.lose = 'commit-reply'
      const d = await new PgReservationLedger(proxy.pool).decide(cancelled('a'))
      expect(proxy.lost).toBe(1)
      // What the lost call itself found: deciding `a` again would have freed nothing, so `b` would be missing.
      expect(d).toEqual({ reservation: null, updated: [{ eventId: 'b', reservation: expect.objectContaining({ conflictsWith: [] }) }] })
    })
    expect((await ledger.entry('w', 'a'))?.reservation).toBeNull()
  })

  it('[PGL4] a COMMIT that never reached the server: the decision is made again on a new connection', async () => {
    await withPgProxy(database.url, async (proxy) => {
      proxy.lose = 'commit-request'
      const d = await new PgReservationLedger(proxy.pool).decide(req('a', T0, T0 + 60 * MIN, ['u1']))
      expect(proxy.lost).toBe(1)
      expect(d.reservation?.status).toBe('confirmed')
    })
    expect((await new PgReservationLedger(pool).entry('w', 'a'))?.reservation?.status).toBe('confirmed')
  })
})

async function deadlocks(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()')
  return Number(rows[0]?.n ?? 0)
}
