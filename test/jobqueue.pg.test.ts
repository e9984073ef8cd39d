/**
 * What only the PostgreSQL job queue has to prove (the shared contract is in
 * test/jobqueue.contract.test.ts): many processes claiming and enqueueing at once, the
 * database refusing a second running job of a lane by itself, and leases on PostgreSQL's clock.
 */
import { setImmediate as turn } from 'node:timers/promises'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { StoredJob } from '../server/jobs/JobQueue.js'
import { PgJobQueue } from '../server/jobs/PgJobQueue.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { newExportJob } from './helpers/jobs.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { until } from './helpers/server.js'

/** `n` queues, each on a pool of one connection of its own: `n` server processes. */
async function queues(url: string, n: number): Promise<{ queues: PgJobQueue[]; close(): Promise<void> }> {
  const pools = await Promise.all(Array.from({ length: n }, () => openPool(url, { max: 1 })))
  return { queues: pools.map((p) => new PgJobQueue(p)), close: async () => void (await Promise.all(pools.map((p) => p.end()))) }
}

const HOUR = 3_600_000

describe.skipIf(skipPg)('PostgreSQL job queue', () => {
  const database = useMigratedDatabase()
  let pool: Pool
  beforeEach(async () => {
    pool = database.pool
    await pool.query('TRUNCATE jobs')
  })

  it('[PGJ1] 10 queues on 10 connections claiming at once never claim one job twice nor run two jobs of one user and lane', async () => {
    const q = new PgJobQueue(pool)
    const lanes = new Map<string, string[]>()
    for (let round = 0; round < 4; round++)
      for (const user of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
        for (const target of ['csv', 'xlsx']) {
          const { job } = await q.enqueue(newExportJob(user, target))
          lanes.set(`${user}/${target}`, [...(lanes.get(`${user}/${target}`) ?? []), job.id])
        }
    const total = 64
    const { queues: workers, close } = await queues(database.url, 10)
    try {
      const holder = new Map<string, string>()
      const claimedOrder = new Map<string, string[]>()
      const claimedIds: string[] = []
      const violations: string[] = []
      let finished = 0
      const started = performance.now()
      await Promise.all(
        workers.map(async (queue, i) => {
          const worker = `w${i}`
          while (finished < total) {
            const claimed: StoredJob[] = await queue.claim(worker, 2, 30_000)
            for (const job of claimed) {
              const lane = `${job.userId}/${job.target}`
              const other = holder.get(lane)
              if (other !== undefined) violations.push(`${worker} claimed ${lane} while ${other} ran it`)
              holder.set(lane, worker)
              claimedIds.push(job.id)
              claimedOrder.set(lane, [...(claimedOrder.get(lane) ?? []), job.id])
            }
            await turn()
            for (const job of claimed) {
              // Freed before the finish commits: a claim of the lane can only succeed after it.
              holder.delete(`${job.userId}/${job.target}`)
              if (await queue.finish(job.id, worker, { status: 'succeeded', counts: { exported: 1 } })) finished++
              else violations.push(`${worker} no longer held ${job.id}: another worker claimed it too`)
            }
          }
        }),
      )
      const elapsed = performance.now() - started
      expect(violations).toEqual([])
      expect(claimedIds).toHaveLength(total)
      expect(new Set(claimedIds).size).toBe(total)
      expect(claimedOrder).toEqual(lanes)
      const stored = await pool.query("SELECT count(*)::integer AS n FROM jobs WHERE status = 'succeeded' AND attempts = 1")
      expect(stored.rows[0].n).toBe(total)
      console.info(`[PGJ1] 64 jobs of 16 lanes claimed and finished by 10 connections in ${Math.round(elapsed)} ms`)
    } finally {
      await close()
    }
  })

  it('[PGJ2] 10 connections enqueueing one coalesce key at once get one job back, queued once', async () => {
    const { queues: workers, close } = await queues(database.url, 10)
    try {
      const results = await Promise.all(workers.map((queue) => queue.enqueue(newExportJob('a', 'csv', 'same-export'))))
      expect(results.filter((r) => !r.coalesced)).toHaveLength(1)
      expect(new Set(results.map((r) => r.job.id)).size).toBe(1)
      expect((await pool.query('SELECT count(*)::integer AS n FROM jobs')).rows[0].n).toBe(1)
    } finally {
      await close()
    }
  })

  it('[PGJ3] the database itself refuses a second running job of one user and lane, and a second queued job of one key', async () => {
    const q = new PgJobQueue(pool)
    await q.enqueue(newExportJob('a', 'csv', 'k'))
    const second = (await q.enqueue(newExportJob('a', 'csv'))).job
    await q.claim('w', 1, 30_000)
    await expect(
      pool.query("UPDATE jobs SET status = 'running', lease_owner = 'x', lease_until = now() WHERE id = $1", [second.id]),
    ).rejects.toMatchObject({ code: '23505', constraint: 'jobs_one_running_per_lane' })
    await q.enqueue(newExportJob('b', 'csv', 'k2'))
    await expect(
      pool.query(
        `INSERT INTO jobs (id, workspace, user_id, kind, target, lane, params, coalesce_key, status, counts, created_at)
         VALUES ('by-hand', 'w', 'b', 'export', 'csv', 'export:csv', '{}', 'k2', 'queued', '{}', now())`,
      ),
    ).rejects.toMatchObject({ code: '23505', constraint: 'jobs_one_queued_per_key' })
  })

  it("[PGJ4] without an injected clock, timestamps and leases follow PostgreSQL's clock, not the process's", async () => {
    const dbNow = async () => (await pool.query('SELECT floor(extract(epoch FROM now()) * 1000)::float8 AS now')).rows[0].now as number
    // This process's clock runs an hour ahead (only Date: timers and sockets keep working).
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + HOUR)
      const q = new PgJobQueue(pool)
      const before = await dbNow()
      const { job } = await q.enqueue(newExportJob('a', 'csv'))
      expect(job.createdAt).toBeGreaterThanOrEqual(before)
      expect(job.createdAt).toBeLessThanOrEqual(await dbNow())
      expect(Number.isInteger(job.createdAt)).toBe(true)
      expect(await q.claim('alive', 1, 60_000)).toHaveLength(1)
      // By the process's clock the lease would already be an hour old.
      expect(await q.recoverExpired(3)).toEqual([])
      expect(await q.renew('alive', [job.id], 200)).toEqual([job.id])
      await until(async () => (await q.recoverExpired(3)).length === 1, 'the 200 ms lease to expire')
      expect(await q.get(job.id)).toMatchObject({ status: 'queued', attempts: 1 })
    } finally {
      vi.useRealTimers()
    }
  })
})
