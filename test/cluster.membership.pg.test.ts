/**
 * Cluster membership and document ownership in PostgreSQL (server/cluster/Membership.ts),
 * members in this process, each on a pool of its own as separate processes would be. Pausing
 * and killing a member's process is test/cluster.fencing.pg.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FencedError, fence } from '../server/cluster/fence.js'
import { Membership, type MembershipOptions } from '../server/cluster/Membership.js'
import { inTransaction } from '../server/pg/inTransaction.js'
import { migrate } from '../server/pg/migrate.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { until } from './helpers/server.js'
import { withPgProxy } from './helpers/pgProxy.js'
import { type PrivatePg, skipPrivatePg, startPrivatePg } from './helpers/privatePg.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A started member on a pool of its own; stopped and closed after the test. */
async function startMember(url: string, options: MembershipOptions = {}, pool?: Pool): Promise<Membership> {
  const own = pool ?? (await openPool(url, { max: 2 }))
  const member = new Membership(own, options)
  cleanups.push(async () => {
    await member.stop().catch(() => {})
    if (!pool) await own.end()
  })
  await member.start()
  return member
}

const ownerRow = async (pool: Pool, doc: string) =>
  (await pool.query<{ owner: string | null; epoch: number }>('SELECT owner, epoch FROM doc_owners WHERE doc = $1', [doc])).rows[0]

/** Runs a transaction that fences `docs` through `member`, then writes a row; resolves with what it threw, if anything. */
async function fencedWrite(pool: Pool, member: Membership, docs: string[], writer: string): Promise<unknown> {
  return inTransaction(pool, async (client) => {
    await member.fence(client, docs)
    await client.query('INSERT INTO fenced_writes (doc, writer) SELECT unnest($1::text[]), $2', [docs, writer])
  }).then(
    () => null,
    (error: unknown) => error,
  )
}

describe.skipIf(skipPg)('cluster ownership', () => {
  const database = useMigratedDatabase()
  const url = () => database.url
  beforeAll(() => database.pool.query('CREATE TABLE fenced_writes (doc text, writer text, n integer)'))

  it('[CL1] four members claiming one document at once, cold and released, 20 rounds: exactly one wins each time', async () => {
    const members = await Promise.all([0, 1, 2, 3].map(() => startMember(url())))
    for (let round = 0; round < 20; round++) {
      const doc = `race/${round}`
      for (const expected of [1, 2]) {
        const claims = await Promise.all(members.map((m) => m.claim(doc)))
        const winners = members.filter((_, i) => claims[i]!.ok)
        expect(winners).toHaveLength(1)
        const winner = winners[0]!
        expect(claims.filter((c) => c.ok)).toEqual([{ ok: true, epoch: expected }])
        for (const claim of claims.filter((c) => !c.ok))
          expect(claim).toEqual({ ok: false, reason: 'held', owner: winner.id, epoch: expected })
        expect(await ownerRow(database.pool, doc)).toEqual({ owner: winner.id, epoch: expected })
        expect(members.map((m) => m.epochOf(doc))).toEqual(members.map((m) => (m === winner ? expected : undefined)))
        // Released, the second race starts warm: the row exists, no one owns it.
        expect(await winner.release(doc)).toBe(true)
      }
    }
  })

  it('[CL2] the epoch grows by one at every claim, a re-claim by the owner included; a fence at an older epoch fails and writes nothing', async () => {
    const [a, b] = [await startMember(url()), await startMember(url())]
    const doc = 'epochs/1'
    const epochs: number[] = []
    const claim = async (m: Membership) => {
      const result = await m.claim(doc)
      if (!result.ok) throw new Error(`claim refused: ${JSON.stringify(result)}`)
      epochs.push(result.epoch)
    }
    await claim(a)
    // A transaction of a's at epoch 1, fenced after a re-claims: the older epoch is refused.
    const stale = a.epochOf(doc)!
    await claim(a)
    await expect(
      inTransaction(database.pool, async (client) => {
        await client.query('INSERT INTO fenced_writes (doc, writer) VALUES ($1, $2)', [doc, 'a@1'])
        await fence(client, { member: a.id, holdings: [{ doc, epoch: stale }], idleTimeoutMs: 5000 })
      }),
    ).rejects.toThrow(FencedError)
    expect(await fencedWrite(database.pool, a, [doc], 'a@2')).toBeNull()
    await a.release(doc)
    await claim(b)
    await b.release(doc)
    await claim(a)
    expect(epochs).toEqual([1, 2, 3, 4])
    expect(await ownerRow(database.pool, doc)).toEqual({ owner: a.id, epoch: 4 })
    expect((await database.pool.query('SELECT writer FROM fenced_writes WHERE doc = $1', [doc])).rows).toEqual([{ writer: 'a@2' }])
  })

  it('[CL3] release and stop hand documents over at once, without waiting for the lease; the old holder is fenced out', async () => {
    // A long lease: any wait for it would show in the elapsed time.
    const a = await startMember(url(), { leaseMs: 30_000 })
    const b = await startMember(url(), { leaseMs: 30_000 })
    const started = performance.now()
    expect(await a.claim('handover/1')).toMatchObject({ ok: true })
    expect(await b.claim('handover/1')).toMatchObject({ ok: false, reason: 'held', owner: a.id })
    expect(await a.release('handover/1')).toBe(true)
    expect(await b.claim('handover/1')).toEqual({ ok: true, epoch: 2 })
    expect(await fencedWrite(database.pool, a, ['handover/1'], 'a')).toMatchObject({ name: 'FencedError', reason: 'not-held' })

    const docs = ['handover/2', 'handover/3', 'handover/4']
    for (const doc of docs) expect(await a.claim(doc)).toMatchObject({ ok: true })
    await a.stop()
    expect(a.canWrite()).toBe(false)
    expect(await a.claim('handover/5')).toEqual({ ok: false, reason: 'no-lease' })
    for (const doc of docs) expect(await b.claim(doc)).toEqual({ ok: true, epoch: 2 })
    expect(performance.now() - started).toBeLessThan(5000)
    expect((await database.pool.query('SELECT count(*)::integer AS n FROM cluster_members WHERE id = $1', [a.id])).rows[0].n).toBe(0)
    expect(await b.owner('handover/2')).toEqual({ owner: b.id, epoch: 2, live: true })
    expect(await b.owner('never-claimed')).toBeNull()
  })

  it('[CL4] a live owner in the middle of a fenced transaction: a claim waits for its commit, then is refused', async () => {
    const a = await startMember(url(), { leaseMs: 2000, renewEveryMs: 100, safetyMarginMs: 500 })
    const b = await startMember(url(), { leaseMs: 2000, renewEveryMs: 100, safetyMarginMs: 500 })
    expect(await a.claim('busy/1')).toEqual({ ok: true, epoch: 1 })
    let commit!: () => void
    let fenced!: () => void
    const fencedNow = new Promise<void>((resolve) => (fenced = resolve))
    const writing = inTransaction(database.pool, async (client) => {
      await a.fence(client, ['busy/1'])
      await client.query('INSERT INTO fenced_writes (doc, writer) VALUES ($1, $2)', ['busy/1', 'a'])
      fenced()
      await new Promise<void>((resolve) => (commit = resolve))
    })
    await fencedNow
    let settled = false
    const claiming = b.claim('busy/1').finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBe(false)
    commit()
    await writing
    expect(await claiming).toEqual({ ok: false, reason: 'held', owner: a.id, epoch: 1 })
    expect((await database.pool.query('SELECT writer FROM fenced_writes WHERE doc = $1', ['busy/1'])).rows).toEqual([{ writer: 'a' }])
  })

  it('[CL5] a claim whose reply was lost with its connection: the row names the member, which releases it at a renewal a lease later', async () => {
    const b = await startMember(url())
    // Warm: a claim of an existing row commits with COMMIT, which the proxy can cut.
    expect(await b.claim('orphan/1')).toMatchObject({ ok: true })
    await b.release('orphan/1')
    await withPgProxy(url(), async (proxy) => {
      const a = await startMember(url(), { leaseMs: 600, renewEveryMs: 100, safetyMarginMs: 200 }, proxy.pool)
      proxy.lose = 'commit-reply'
      await expect(a.claim('orphan/1')).rejects.toThrow()
      expect(proxy.lost).toBe(1)
      expect(a.epochOf('orphan/1')).toBeUndefined()
      expect(await ownerRow(database.pool, 'orphan/1')).toEqual({ owner: a.id, epoch: 2 })
      // a is live and renewing: b must not take it, until a gives up the row it does not hold.
      expect(await b.claim('orphan/1')).toMatchObject({ ok: false, reason: 'held', owner: a.id })
      await until(async () => (await ownerRow(database.pool, 'orphan/1'))?.owner === null, 'the orphan row released', 5000)
      expect(a.canWrite()).toBe(true)
      expect(await b.claim('orphan/1')).toEqual({ ok: true, epoch: 3 })
      await a.stop()
    })
  })
})

describe.skipIf(skipPrivatePg)('cluster lease when PostgreSQL is lost', () => {
  let pg: PrivatePg | undefined
  afterEach(() => pg?.destroy())

  it('[CL6] renewals failing: canWrite() turns false before the lease ends by PostgreSQL, writes and claims are refused', async () => {
    pg = await startPrivatePg()
    const pool = await openPool(pg.url, { max: 2, connectTimeoutMs: 500, onError: () => {} })
    cleanups.push(() => pool.end())
    await migrate(pool)
    const errors: Error[] = []
    const margin = 500
    const member = new Membership(pool, { leaseMs: 2500, renewEveryMs: 100, safetyMarginMs: margin, onError: (e) => errors.push(e) })
    await member.start()
    expect(await member.claim('lost/1')).toEqual({ ok: true, epoch: 1 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(member.canWrite()).toBe(true)
    pg.stop('immediate')
    const stoppedAt = Date.now()
    // The same machine's clock as PostgreSQL's: comparable with lease_until once it is back.
    await until(() => !member.canWrite(), 'canWrite() false', 5000)
    const falseAt = Date.now()
    expect(errors.length).toBeGreaterThan(0)
    await expect(member.fence({} as never, ['lost/1'])).rejects.toMatchObject({ name: 'FencedError', reason: 'lease' })
    expect(await member.claim('lost/2')).toEqual({ ok: false, reason: 'no-lease' })
    // Stopped renewing; the release cannot reach PostgreSQL, so the lease is left to expire.
    await expect(member.stop()).rejects.toThrow()
    pg.start()
    const { rows } = await pool.query<{ lease_until: number }>('SELECT lease_until FROM cluster_members WHERE id = $1', [member.id])
    const leaseUntil = rows[0]!.lease_until
    console.info(
      `[CL6] PostgreSQL stopped; canWrite() false ${falseAt - stoppedAt} ms later, ${leaseUntil - falseAt} ms before the lease ended (margin ${margin} ms)`,
    )
    // Seen false at most one poll (10 ms) after it turned false.
    expect(leaseUntil - falseAt).toBeGreaterThanOrEqual(margin - 25)
    expect(leaseUntil - falseAt).toBeLessThan(margin + 400)
  }, 60_000)
})
