/**
 * The JobQueue contract, one suite for every implementation: SQLite on a real file,
 * PostgreSQL on a fresh database (test/helpers/pg.ts; skipped with one line when no
 * PostgreSQL is reachable, except on CI).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { JobOutcome, JobQueue, NewJob } from '../server/jobs/JobQueue.js'
import { PgJobQueue } from '../server/jobs/PgJobQueue.js'
import { SqliteJobQueue } from '../server/jobs/SqliteJobQueue.js'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { newExportJob } from './helpers/jobs.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

/** One queue under test, and what the contract needs around it. */
interface Subject {
  queue: JobQueue
  /** Moves the queue's clock (the one its leases and timestamps use) forward. */
  advance(ms: number): void
  /** Closes the queue and removes what the subject created. */
  close(): Promise<void>
}

/** The queue's clock starts here. */
const T0 = 1_000_000
const LEASE = 100

const succeeded: JobOutcome = { status: 'succeeded', counts: { exported: 3 } }

/**
 * `setup` runs inside the suite's `describe`, so it may register `beforeAll`/`afterAll`
 * hooks for what its subjects share (a database), and returns how to make one subject.
 */
function jobQueueContract(name: string, setup: () => () => Subject, skip = false): void {
  describe.skipIf(skip)(`JobQueue contract: ${name}`, () => {
    const make = setup()
    let s: Subject
    let q: JobQueue
    beforeEach(() => {
      s = make()
      q = s.queue
    })
    afterEach(() => s.close())

    const enqueue = async (job: NewJob) => (await q.enqueue(job)).job
    const ids = (jobs: { id: string }[]) => jobs.map((j) => j.id)

    it('[JQ5] a job reads back as enqueued: get, list (newest first, per user and kind), payload', async () => {
      const { job, coalesced } = await q.enqueue(newExportJob('a'))
      expect(coalesced).toBe(false)
      expect(job).toMatchObject({
        workspace: 'w',
        userId: 'a',
        kind: 'export',
        target: 'csv',
        params: { collections: ['deals'] },
        status: 'queued',
        counts: { exported: 0 },
        errors: [],
        error: null,
        result: null,
        attempts: 0,
        retry: null,
        createdAt: T0,
        startedAt: null,
        finishedAt: null,
      })
      expect(await q.get(job.id)).toEqual(job)
      expect(await q.get('no-such-job')).toBeUndefined()
      s.advance(1)
      const second = await enqueue(newExportJob('a', 'xlsx'))
      const upload = await enqueue({ ...newExportJob('a'), kind: 'import', coalesceKey: null, payload: Buffer.from('name\nAda\n') })
      await enqueue(newExportJob('b'))
      expect(ids(await q.list('a', 'export', 10))).toEqual([second.id, job.id])
      expect(ids(await q.list('a', 'export', 1))).toEqual([second.id])
      expect(ids(await q.list('a', 'import', 10))).toEqual([upload.id])
      expect(await q.list('c', 'export', 10)).toEqual([])
      expect((await q.payload(upload.id))?.toString()).toBe('name\nAda\n')
      expect(await q.payload(job.id)).toBeNull()
    })

    it('[JQ5] finish stores the outcome and drops the payload; a failure keeps its message and line errors', async () => {
      const ok = await enqueue(newExportJob('a'))
      const bad = await enqueue({ ...newExportJob('b'), kind: 'import', payload: Buffer.from('x') })
      await q.claim('w1', 10, LEASE)
      s.advance(5)
      expect(await q.progress(ok.id, 'w1', { exported: 2 })).toBe(true)
      expect((await q.get(ok.id))?.counts).toEqual({ exported: 2 })
      expect(await q.finish(ok.id, 'w1', { ...succeeded, result: { file: 'f.csv' } })).toBe(true)
      const errors = [{ line: 2, message: 'email: not an e-mail' }]
      expect(await q.finish(bad.id, 'w1', { status: 'failed', counts: { invalid: 1 }, errors, error: 'the file was not CSV' })).toBe(true)
      expect(await q.get(ok.id)).toMatchObject({
        status: 'succeeded',
        counts: { exported: 3 },
        result: { file: 'f.csv' },
        attempts: 1,
        startedAt: T0,
        finishedAt: T0 + 5,
      })
      expect(await q.get(bad.id)).toMatchObject({ status: 'failed', errors, error: 'the file was not CSV', result: null })
      expect(await q.payload(bad.id)).toBeNull()
      expect(await q.finish(ok.id, 'w1', succeeded)).toBe(false)
    })

    it('[JQ2] an identical job still queued is coalesced; a job without a key never is; once claimed, a new one is queued', async () => {
      const first = await q.enqueue(newExportJob('a', 'csv', 'k'))
      expect(await q.enqueue(newExportJob('a', 'csv', 'k'))).toEqual({ job: first.job, coalesced: true })
      expect((await q.enqueue(newExportJob('a', 'csv', 'other'))).coalesced).toBe(false)
      const keyless = await enqueue(newExportJob('a', 'xlsx'))
      expect((await enqueue(newExportJob('a', 'xlsx'))).id).not.toBe(keyless.id)
      expect(ids(await q.claim('w', 1, LEASE))).toEqual([first.job.id])
      const fresh = await q.enqueue(newExportJob('a', 'csv', 'k'))
      expect(fresh.coalesced).toBe(false)
      expect(fresh.job.id).not.toBe(first.job.id)
      expect((await q.enqueue(newExportJob('a', 'csv', 'k'))).job.id).toBe(fresh.job.id)
    })

    it('[JQ1] claims at most one job per user and target, oldest first, and other users in the same claim', async () => {
      const a1 = await enqueue(newExportJob('a'))
      await enqueue(newExportJob('a'))
      const a3 = await enqueue(newExportJob('a', 'xlsx'))
      const b1 = await enqueue(newExportJob('b'))
      const claimed = await q.claim('w1', 10, LEASE)
      expect(ids(claimed)).toEqual([a1.id, a3.id, b1.id])
      expect(claimed.every((j) => j.status === 'running' && j.attempts === 1 && j.startedAt === T0)).toBe(true)
      expect(await q.claim('w2', 10, LEASE)).toEqual([])
      expect(await q.finish(a1.id, 'w1', succeeded)).toBe(true)
      expect((await q.claim('w2', 10, LEASE)).map((j) => [j.userId, j.target])).toEqual([['a', 'csv']])
    })

    it('[JQ1] a claim takes at most `max` jobs, oldest first; max 0 takes none', async () => {
      const jobs = []
      for (const user of ['a', 'b', 'c']) jobs.push(await enqueue(newExportJob(user)))
      expect(await q.claim('w', 0, LEASE)).toEqual([])
      expect(ids(await q.claim('w', 2, LEASE))).toEqual(ids(jobs.slice(0, 2)))
      expect(ids(await q.claim('w', 2, LEASE))).toEqual(ids(jobs.slice(2)))
    })

    it('[JQ1] claims made at the same moment by several workers never share a job nor run two of one user and target', async () => {
      for (const user of ['a', 'b', 'c', 'd']) for (const target of ['csv', 'csv', 'xlsx']) await enqueue(newExportJob(user, target))
      const claims = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((worker) => q.claim(worker, 3, LEASE)))
      const claimed = claims.flat()
      expect(new Set(ids(claimed)).size).toBe(claimed.length)
      const lanes = claimed.map((j) => `${j.userId}/${j.target}`)
      expect(new Set(lanes).size).toBe(lanes.length)
      expect(lanes.sort()).toEqual(['a/csv', 'a/xlsx', 'b/csv', 'b/xlsx', 'c/csv', 'c/xlsx', 'd/csv', 'd/xlsx'])
    })

    it('[JQ4] a position counts its own lane ahead of it and the other lanes waiting for a runner, 1 = next', async () => {
      const a1 = await enqueue(newExportJob('a'))
      const a2 = await enqueue(newExportJob('a'))
      const b1 = await enqueue(newExportJob('b'))
      expect(await Promise.all([a1, a2, b1].map((j) => q.position(j.id)))).toEqual([1, 2, 2])
      expect((await q.queued(2)).map((j) => [j.id, j.position])).toEqual([
        [a1.id, 1],
        [a2.id, 2],
      ])
      await q.claim('w', 10, LEASE)
      expect(await Promise.all([a1, a2, b1].map((j) => q.position(j.id)))).toEqual([undefined, 1, undefined])
      expect((await q.queued(10)).map((j) => [j.id, j.position])).toEqual([[a2.id, 1]])
      expect(await q.position('no-such-job')).toBeUndefined()
    })

    it("[JQ4] another user's jobs count only while they wait for a runner, one per lane: a lane with a job running holds its runner", async () => {
      // b has one xlsx export running and three queued; c one CSV export queued; then a's three CSV exports.
      const b = [await enqueue(newExportJob('b', 'xlsx'))]
      await q.claim('w', 1, LEASE)
      for (let i = 0; i < 3; i++) b.push(await enqueue(newExportJob('b', 'xlsx')))
      const c1 = await enqueue(newExportJob('c'))
      const a = [await enqueue(newExportJob('a')), await enqueue(newExportJob('a')), await enqueue(newExportJob('a'))]
      // b's queued jobs wait for b's running one; c's waits for a runner, ahead of a's.
      expect(await Promise.all([...b.slice(1), c1, ...a].map((j) => q.position(j.id)))).toEqual([1, 2, 3, 1, 2, 3, 4])
      const queued = await q.queued(10)
      expect(queued.map((j) => j.position)).toEqual([1, 2, 3, 1, 2, 3, 4])
      // The whole queue and any prefix of it agree with position().
      expect((await q.queued(5)).map((j) => j.position)).toEqual([1, 2, 3, 1, 2])
      // c's job starts: a's move up; b's running job ends, so b's next waits for a runner, ahead of a's.
      expect(ids(await q.claim('w', 1, LEASE))).toEqual([c1.id])
      expect(await Promise.all(a.map((j) => q.position(j.id)))).toEqual([1, 2, 3])
      expect(await q.finish(b[0]!.id, 'w', succeeded)).toBe(true)
      expect(await Promise.all(a.map((j) => q.position(j.id)))).toEqual([2, 3, 4])
      expect((await q.queued(10)).map((j) => [j.id, j.position])).toEqual([
        [b[1]!.id, 1],
        [b[2]!.id, 2],
        [b[3]!.id, 3],
        [a[0]!.id, 2],
        [a[1]!.id, 3],
        [a[2]!.id, 4],
      ])
    })

    it("[JQ4] a user's active jobs: running and queued of every kind in queue order, queued ones with positions; never another user's", async () => {
      expect(await q.active('a')).toEqual([])
      expect(await q.lastFinished('a')).toBeUndefined()
      const running = await enqueue(newExportJob('a'))
      await q.claim('w', 1, LEASE)
      const queued = [await enqueue(newExportJob('a')), await enqueue(newExportJob('a'))]
      const other = await enqueue(newExportJob('b'))
      const upload = await enqueue({ ...newExportJob('a'), kind: 'import', payload: Buffer.from('x') })
      const active = await q.active('a')
      expect(active.map((j) => [j.id, j.status, 'position' in j ? j.position : undefined])).toEqual([
        [running.id, 'running', undefined],
        [queued[0]!.id, 'queued', 1],
        [queued[1]!.id, 'queued', 2],
        // b's export waits for a runner ahead of a's import.
        [upload.id, 'queued', 2],
      ])
      expect(ids(await q.active('b'))).toEqual([other.id])
      s.advance(5)
      expect(await q.finish(running.id, 'w', succeeded)).toBe(true)
      s.advance(5)
      const [claimed] = (await q.claim('w', 10, LEASE)).filter((j) => j.userId === 'a' && j.kind === 'import')
      expect(await q.finish(claimed!.id, 'w', { status: 'failed', counts: {}, error: 'not CSV' })).toBe(true)
      expect(await q.lastFinished('a')).toMatchObject({ id: upload.id, status: 'failed', finishedAt: T0 + 10 })
      expect(await q.lastFinished('b')).toBeUndefined()
    })

    it('[JQ7] only the lease holder stores a retry; it reads back, and claim, release, recovery and finish clear it', async () => {
      const job = await enqueue(newExportJob('a', 'sheets'))
      const retry = { attempt: 3, of: 6, reason: 'quota' as const, nextAt: T0 + 12_000 }
      expect(await q.retrying(job.id, 'w', retry)).toBe(false)
      await q.claim('w', 1, LEASE)
      expect(await q.retrying(job.id, 'other', retry)).toBe(false)
      expect(await q.retrying(job.id, 'w', retry)).toBe(true)
      expect(await q.get(job.id)).toMatchObject({ status: 'running', retry })
      expect((await q.active('a'))[0]).toMatchObject({ retry })
      expect(await q.retrying(job.id, 'w', null)).toBe(true)
      expect((await q.get(job.id))?.retry).toBeNull()
      await q.retrying(job.id, 'w', retry)
      await q.release(job.id, 'w')
      expect((await q.get(job.id))?.retry).toBeNull()
      await q.claim('w', 1, LEASE)
      await q.retrying(job.id, 'w', retry)
      s.advance(LEASE + 1)
      expect(await q.recoverExpired(3)).toMatchObject([{ id: job.id, status: 'queued', retry: null }])
      await q.claim('w', 1, LEASE)
      await q.retrying(job.id, 'w', retry)
      expect(await q.finish(job.id, 'w', succeeded)).toBe(true)
      expect((await q.get(job.id))?.retry).toBeNull()
    })

    it('[JQ3] only the lease holder renews, reports progress or finishes; a renewed lease is not recovered', async () => {
      const job = await enqueue(newExportJob('a'))
      await q.claim('holder', 1, LEASE)
      expect(await q.renew('other', [job.id], LEASE)).toEqual([])
      expect(await q.progress(job.id, 'other', { exported: 9 })).toBe(false)
      expect(await q.finish(job.id, 'other', succeeded)).toBe(false)
      expect(await q.get(job.id)).toMatchObject({ status: 'running', counts: { exported: 0 } })
      s.advance(LEASE - 10)
      expect(await q.renew('holder', [job.id, 'no-such-job'], LEASE)).toEqual([job.id])
      s.advance(LEASE - 10)
      expect(await q.recoverExpired(3)).toEqual([])
      expect(await q.finish(job.id, 'holder', succeeded)).toBe(true)
      expect(await q.renew('holder', [job.id], LEASE)).toEqual([])
    })

    it('[JQ3] an expired lease queues the job again; its old holder can no longer renew or finish it', async () => {
      const job = await enqueue(newExportJob('a'))
      await q.claim('dead', 1, LEASE)
      expect(await q.recoverExpired(3)).toEqual([])
      s.advance(LEASE + 1)
      const recovered = await q.recoverExpired(3)
      expect(recovered).toMatchObject([{ id: job.id, status: 'queued', attempts: 1 }])
      expect(await q.position(job.id)).toBe(1)
      expect(await q.renew('dead', [job.id], LEASE)).toEqual([])
      expect(await q.finish(job.id, 'dead', succeeded)).toBe(false)
      const again = await q.claim('alive', 1, LEASE)
      expect(again).toMatchObject([{ id: job.id, status: 'running', attempts: 2 }])
      expect(await q.finish(job.id, 'dead', succeeded)).toBe(false)
      expect(await q.finish(job.id, 'alive', succeeded)).toBe(true)
    })

    it('[JQ3] a job whose lease expires `maxAttempts` times is failed with a clear error', async () => {
      const job = await enqueue(newExportJob('a'))
      for (let attempt = 1; attempt <= 3; attempt++) {
        expect((await q.claim(`w${attempt}`, 1, LEASE))[0]?.attempts).toBe(attempt)
        s.advance(LEASE + 1)
        expect((await q.recoverExpired(3)).map((j) => j.status)).toEqual([attempt < 3 ? 'queued' : 'failed'])
      }
      expect(await q.get(job.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/3 times; gave up/) })
      expect(await q.claim('w4', 1, LEASE)).toEqual([])
    })

    it('[JQ6] release puts a held job back in the queue, first in its line; only its holder can release it', async () => {
      const first = await enqueue(newExportJob('a'))
      const second = await enqueue(newExportJob('a'))
      await q.claim('w', 1, LEASE)
      await q.release(first.id, 'other')
      expect((await q.get(first.id))?.status).toBe('running')
      await q.release(first.id, 'w')
      expect(await q.get(first.id)).toMatchObject({ status: 'queued', attempts: 1 })
      expect(await q.position(first.id)).toBe(1)
      expect(await q.finish(first.id, 'w', succeeded)).toBe(false)
      expect(await q.claim('w2', 10, LEASE)).toMatchObject([{ id: first.id, attempts: 2 }])
      expect(await q.position(second.id)).toBe(1)
    })

    it('[JQ8] cancel ends a queued or a running job; its holder no longer holds it; a finished job is not cancelled', async () => {
      const running = await enqueue(newExportJob('a'))
      const queued = await enqueue(newExportJob('a'))
      await q.claim('w', 10, LEASE)
      s.advance(5)
      expect(await q.cancel(running.id, 'cancelled by Ada')).toMatchObject({
        status: 'failed',
        error: 'cancelled by Ada',
        result: { cancelled: true },
        finishedAt: T0 + 5,
        retry: null,
      })
      expect(await q.renew('w', [running.id], LEASE)).toEqual([])
      expect(await q.progress(running.id, 'w', { exported: 1 })).toBe(false)
      expect(await q.finish(running.id, 'w', succeeded)).toBe(false)
      expect((await q.cancel(queued.id, 'cancelled'))?.status).toBe('failed')
      expect(await q.position(queued.id)).toBeUndefined()
      expect(await q.claim('w', 10, LEASE)).toEqual([])
      expect(await q.cancel(queued.id, 'again')).toBeUndefined()
      expect(await q.cancel('no-such-job', 'x')).toBeUndefined()
    })

    it('[JQ8] requeue queues a failed job again in its old place; not a queued, succeeded or upload-less import job', async () => {
      const failed = await enqueue(newExportJob('a'))
      const later = await enqueue(newExportJob('a'))
      await q.claim('w', 1, LEASE)
      await q.finish(failed.id, 'w', { status: 'failed', counts: { exported: 1 }, error: 'quota' })
      expect(await q.requeue(later.id)).toBeUndefined()
      expect(await q.requeue(failed.id)).toMatchObject({ status: 'queued', error: null, result: null, finishedAt: null, attempts: 1 })
      expect(await q.position(failed.id)).toBe(1)
      expect(await q.position(later.id)).toBe(2)
      expect(await q.claim('w', 1, LEASE)).toMatchObject([{ id: failed.id, attempts: 2 }])
      await q.finish(failed.id, 'w', succeeded)
      expect(await q.requeue(failed.id)).toBeUndefined()
      const upload = await enqueue({ ...newExportJob('b'), kind: 'import', payload: Buffer.from('name\n') })
      await q.cancel(upload.id, 'cancelled')
      expect(await q.requeue(upload.id)).toBeUndefined()
    })

    it("[JQ8] ofWorkspace lists the workspace's jobs of the given statuses, newest first", async () => {
      const a = await enqueue(newExportJob('a'))
      const b = await enqueue(newExportJob('b'))
      await enqueue({ ...newExportJob('c'), workspace: 'other' })
      await q.claim('w', 1, LEASE)
      await q.finish(a.id, 'w', succeeded)
      expect(ids(await q.ofWorkspace('w', ['queued', 'running', 'failed', 'succeeded'], 10))).toEqual([b.id, a.id])
      expect(ids(await q.ofWorkspace('w', ['queued'], 10))).toEqual([b.id])
      expect(ids(await q.ofWorkspace('w', ['succeeded'], 10))).toEqual([a.id])
      expect(ids(await q.ofWorkspace('w', ['queued', 'succeeded'], 1))).toEqual([b.id])
    })
  })
}

/** A clock for one subject, starting at T0. */
function testClock() {
  const clock = { now: T0 }
  return {
    now: () => clock.now,
    advance(ms: number) {
      clock.now += ms
    },
  }
}

jobQueueContract('SQLite', () => () => {
  const dir = tempDir('accord-jobqueue-')
  const db: Db = openDatabase(join(dir, 'jobs.db'))
  const clock = testClock()
  return {
    queue: new SqliteJobQueue(db, clock.now),
    advance: clock.advance,
    async close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

jobQueueContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return () => {
      const clock = testClock()
      return {
        queue: new PgJobQueue(database.pool, { now: clock.now }),
        advance: clock.advance,
        async close() {
          await database.pool.query('TRUNCATE jobs')
        },
      }
    }
  },
  skipPg,
)
