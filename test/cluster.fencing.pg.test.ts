/**
 * Fencing (server/cluster/fence.ts) and lease expiry with members in processes of their own
 * (test/helpers/clusterMember.ts), paused with SIGSTOP or killed with SIGKILL as real
 * processes are, against the same PostgreSQL database.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FencedError, fence } from '../server/cluster/fence.js'
import { Membership } from '../server/cluster/Membership.js'
import { inTransaction } from '../server/pg/inTransaction.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { type ForkedMember, forkMember } from './helpers/clusterMember.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { until } from './helpers/server.js'

/** Short leases, so expiry takes a fraction of a second. */
const LEASE = { leaseMs: 400, renewEveryMs: 100, safetyMarginMs: 150 }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe.skipIf(skipPg)('cluster fencing', () => {
  const database = useMigratedDatabase()
  beforeAll(() => database.pool.query('CREATE TABLE fenced_writes (doc text, writer text, n integer)'))

  async function forked(): Promise<ForkedMember> {
    const member = await forkMember(database.url, LEASE)
    cleanups.push(async () => {
      member.child.kill('SIGCONT')
      await member.kill()
    })
    return member
  }

  async function local(options = LEASE): Promise<{ member: Membership; pool: Pool }> {
    const pool = await openPool(database.url, { max: 3 })
    const member = new Membership(pool, options)
    cleanups.push(async () => {
      await member.stop().catch(() => {})
      await pool.end()
    })
    await member.start()
    return { member, pool }
  }

  const row = async (sql: string, values: unknown[]) => (await database.pool.query(sql, values)).rows[0]
  const writers = async (doc: string) =>
    (await database.pool.query<{ writer: string }>('SELECT writer FROM fenced_writes WHERE doc = $1 ORDER BY writer', [doc])).rows.map(
      (r) => r.writer,
    )

  /** Claims `doc` through `member` every 10 ms until it succeeds; the refusals met on the way. */
  async function claimWhenFree(member: Membership, doc: string, timeoutMs = 10_000) {
    const refusals: unknown[] = []
    const until = performance.now() + timeoutMs
    for (;;) {
      const claim = await member.claim(doc)
      if (claim.ok) return { epoch: claim.epoch, refusals }
      refusals.push(claim)
      if (performance.now() > until) throw new Error(`${doc} not claimed within ${timeoutMs} ms: ${JSON.stringify(claim)}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  it('[CF1] owner killed (SIGKILL): its documents are claimed once its lease has expired by PostgreSQL’s clock, not before', async () => {
    const a = await forked()
    expect(await a.call('claim', { doc: 'kill/1' })).toEqual({ ok: true, epoch: 1 })
    const { member: b } = await local()
    expect(await b.claim('kill/1')).toEqual({ ok: false, reason: 'held', owner: a.id, epoch: 1 })
    await a.kill()
    const killedAt = performance.now()
    const { epoch, refusals } = await claimWhenFree(b, 'kill/1')
    const tookMs = performance.now() - killedAt
    expect(epoch).toBe(2)
    for (const refusal of refusals) expect(refusal).toEqual({ ok: false, reason: 'held', owner: a.id, epoch: 1 })
    // Both sides of the comparison are PostgreSQL's: the dead member's lease end, and the claim's time.
    const { lease_until } = await row('SELECT lease_until FROM cluster_members WHERE id = $1', [a.id])
    const { claimed_at } = await row('SELECT claimed_at FROM doc_owners WHERE doc = $1', ['kill/1'])
    expect(claimed_at).toBeGreaterThanOrEqual(lease_until)
    console.info(`[CF1] owner killed: claimed by another member ${Math.round(tookMs)} ms later (lease ${LEASE.leaseMs} ms)`)
  })

  it('[CF2] stale owner: paused (SIGSTOP) in a fenced transaction past its lease, another member claims and writes; resumed, it never writes', async () => {
    const a = await forked()
    expect(await a.call('claim', { doc: 'stale/1' })).toEqual({ ok: true, epoch: 1 })
    // a's transaction has passed its fence and written; a pauses before its COMMIT.
    expect(await a.call('hold', { doc: 'stale/1', writer: 'a-paused', n: 1 })).toBe('holding')
    a.child.kill('SIGSTOP')
    const { member: b, pool } = await local()
    // The claim waits for the lease to expire, and for PostgreSQL to end a's idle transaction.
    const { epoch } = await claimWhenFree(b, 'stale/1')
    expect(epoch).toBe(2)
    await inTransaction(pool, async (client) => {
      await b.fence(client, ['stale/1'])
      await client.query('INSERT INTO fenced_writes (doc, writer) VALUES ($1, $2)', ['stale/1', 'b'])
    })
    a.child.kill('SIGCONT')
    // Its open transaction was ended by PostgreSQL: the COMMIT cannot happen.
    await expect(a.call('commit')).rejects.toMatchObject({ message: expect.stringMatching(/connection|terminat/i) })
    // A new transaction of a's at its old epoch: written first, fenced after, rolled back.
    await expect(a.call('write', { doc: 'stale/1', epoch: 1, writer: 'a-resumed', n: 2 })).rejects.toMatchObject({
      name: 'FencedError',
      reason: 'owner',
    })
    // Its next renewal tells it the document is lost.
    await until(
      async () => (await a.call<{ lost: string[] }>('state')).lost.includes('stale/1'),
      'the resumed member told stale/1 is lost',
      5000,
    )
    expect((await a.call<{ held: unknown[] }>('state')).held).toEqual([])
    expect(await writers('stale/1')).toEqual(['b'])
    expect(await row('SELECT owner, epoch FROM doc_owners WHERE doc = $1', ['stale/1'])).toEqual({ owner: b.id, epoch: 2 })
  }, 30_000)

  it('[CF3] one fence over several documents: the one taken is named, nothing of the transaction is written', async () => {
    const { member: a, pool } = await local({ leaseMs: 5000, renewEveryMs: 1000, safetyMarginMs: 1000 })
    const { member: b } = await local({ leaseMs: 5000, renewEveryMs: 1000, safetyMarginMs: 1000 })
    for (const doc of ['multi/1', 'multi/2', 'multi/3']) expect(await a.claim(doc)).toMatchObject({ ok: true })
    const stale = a.epochOf('multi/2')!
    await a.release('multi/2')
    expect(await b.claim('multi/2')).toEqual({ ok: true, epoch: 2 })
    const holdings = ['multi/1', 'multi/2', 'multi/3'].map((doc) => ({ doc, epoch: a.epochOf(doc) ?? stale }))
    const error = await inTransaction(pool, async (client) => {
      await client.query("INSERT INTO fenced_writes (doc, writer) VALUES ('multi/1', 'a'), ('multi/3', 'a')")
      await fence(client, { member: a.id, holdings, idleTimeoutMs: a.leaseMs })
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FencedError)
    expect(error).toMatchObject({ docs: ['multi/2'], reason: 'owner', member: a.id })
    expect((error as Error).message).toMatch(/no longer owns multi\/2 at its epoch/)
    expect(await writers('multi/1')).toEqual([])
    expect(await writers('multi/3')).toEqual([])
  })
})
