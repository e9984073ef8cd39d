/**
 * The runner over a queue whose answers take time (as a database in another process does):
 * the real JobRunner and the real queue (SQLite on a file, PostgreSQL on a fresh database),
 * with some answers held back by the test. Calls to the queue interleave; the runner's
 * guarantees must not depend on two calls running back to back.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { JobCounts, JobKind, JobOutcome, JobQueue, JobRetry, JobStatus, NewJob, StoredJob } from '../server/jobs/JobQueue.js'
import { type JobHandler, JobRunner } from '../server/jobs/JobRunner.js'
import { PgJobQueue } from '../server/jobs/PgJobQueue.js'
import { SqliteJobQueue } from '../server/jobs/SqliteJobQueue.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { describeBackends } from './helpers/backends.js'
import { useMigratedDatabase } from './helpers/pg.js'
import { type TestBackend, tempDir, until } from './helpers/server.js'

/** A door the test opens; everything waiting at it goes through. */
class Gate {
  private opened = false
  private readonly waiters: (() => void)[] = []
  waiting = 0

  wait(): Promise<void> {
    if (this.opened) return Promise.resolve()
    this.waiting++
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  open(): void {
    this.opened = true
    for (const resolve of this.waiters.splice(0)) resolve()
  }
}

/** A real queue, with the answers of claim and renew held at a gate (the work itself is done at once). */
class SlowQueue implements JobQueue {
  claimGate = new Gate()
  renewGate = new Gate()
  claimsInFlight = 0
  mostClaimsInFlight = 0

  constructor(readonly inner: JobQueue) {}

  enqueue(job: NewJob) {
    return this.inner.enqueue(job)
  }
  get(id: string) {
    return this.inner.get(id)
  }
  list(userId: string, kind: JobKind, limit: number) {
    return this.inner.list(userId, kind, limit)
  }
  queued(limit: number) {
    return this.inner.queued(limit)
  }
  position(id: string) {
    return this.inner.position(id)
  }
  active(userId: string) {
    return this.inner.active(userId)
  }
  lastFinished(userId: string) {
    return this.inner.lastFinished(userId)
  }
  retrying(id: string, worker: string, retry: JobRetry | null) {
    return this.inner.retrying(id, worker, retry)
  }
  payload(id: string) {
    return this.inner.payload(id)
  }
  async claim(worker: string, max: number, leaseMs: number): Promise<StoredJob[]> {
    this.claimsInFlight++
    this.mostClaimsInFlight = Math.max(this.mostClaimsInFlight, this.claimsInFlight)
    try {
      await this.claimGate.wait()
      return await this.inner.claim(worker, max, leaseMs)
    } finally {
      this.claimsInFlight--
    }
  }
  async renew(worker: string, ids: string[], leaseMs: number): Promise<string[]> {
    const held = await this.inner.renew(worker, ids, leaseMs)
    await this.renewGate.wait()
    return held
  }
  progress(id: string, worker: string, counts: JobCounts) {
    return this.inner.progress(id, worker, counts)
  }
  finish(id: string, worker: string, outcome: JobOutcome) {
    return this.inner.finish(id, worker, outcome)
  }
  release(id: string, worker: string) {
    return this.inner.release(id, worker)
  }
  ofWorkspace(workspace: string, statuses: readonly JobStatus[], limit: number) {
    return this.inner.ofWorkspace(workspace, statuses, limit)
  }
  requeue(id: string) {
    return this.inner.requeue(id)
  }
  cancel(id: string, error: string) {
    return this.inner.cancel(id, error)
  }
  recoverExpired(maxAttempts: number) {
    return this.inner.recoverExpired(maxAttempts)
  }
}

const exportJob = (userId: string): NewJob => ({
  workspace: 'w',
  userId,
  kind: 'export',
  target: 'csv',
  params: {},
  counts: {},
  coalesceKey: null,
})

let queue: SlowQueue
let runner: JobRunner | undefined
/** Job ids in the order their handlers started. */
let starts: string[]
/** Each job's handler returns once its gate opens (or stops when its run is stopped). */
let done: Map<string, Gate>

const doneGate = (id: string) => done.get(id) ?? done.set(id, new Gate()).get(id)!

const handler: JobHandler = async (ctx) => {
  starts.push(ctx.job.id)
  await new Promise<void>((resolve, reject) => {
    void doneGate(ctx.job.id).wait().then(resolve)
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })
  })
  await ctx.checkpoint()
  return { status: 'succeeded', counts: {} }
}

function startRunner(options: { concurrency?: number; leaseMs?: number } = {}): JobRunner {
  // Polling is off (an hour): the tests drive the runner by kicks and by the lease timer alone.
  runner = new JobRunner(
    queue,
    () => handler,
    () => undefined,
    { pollMs: 3_600_000, ...options },
  )
  runner.start()
  return runner
}

/** A fresh queue per test, and what closing it takes. */
type OpenQueue = () => { queue: JobQueue; close(): Promise<void> }

/** Per backend: what the suite sets up (PostgreSQL: its database, created once), and how a test opens its queue. */
const QUEUES: Record<TestBackend, () => OpenQueue> = {
  sqlite: () => () => {
    const dir = tempDir('accord-runner-')
    const db = openDatabase(join(dir, 'jobs.db'))
    return {
      queue: new SqliteJobQueue(db),
      async close() {
        db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
  postgres: () => {
    const database = useMigratedDatabase()
    return () => ({
      queue: new PgJobQueue(database.pool),
      async close() {
        await database.pool.query('TRUNCATE jobs')
      },
    })
  },
}

describeBackends('JobRunner over a slow queue', (backend) => {
  const open = QUEUES[backend.kind]()
  let opened: ReturnType<OpenQueue>
  beforeEach(() => {
    opened = open()
    queue = new SlowQueue(opened.queue)
    starts = []
    done = new Map()
  })
  afterEach(async () => {
    queue.claimGate.open()
    queue.renewGate.open()
    for (const gate of done.values()) gate.open()
    await runner?.close()
    runner = undefined
    await opened.close()
  })

  it('[JR1] claims never overlap: kicks during a claim in flight never run more than `concurrency` jobs', async () => {
    for (const user of ['a', 'b', 'c', 'd', 'e']) await queue.enqueue(exportJob(user))
    const r = startRunner({ concurrency: 2 })
    await until(() => queue.claimGate.waiting > 0, 'the first claim is asked')
    for (let i = 0; i < 3; i++) {
      r.kick()
      await new Promise((resolve) => setImmediate(resolve))
    }
    queue.claimGate.open()
    await until(() => queue.claimsInFlight === 0 && r.stats().running >= 2, 'every claim is answered and jobs run')
    expect(queue.mostClaimsInFlight).toBe(1)
    expect(r.stats()).toEqual({ running: 2, peak: 2 })
    expect((await queue.queued(10)).length).toBe(3)
    expect(starts.length).toBe(2)
  })

  it('[JR2] a lease renewal answered after another job started does not stop that job', async () => {
    const first = (await queue.enqueue(exportJob('a'))).job
    queue.claimGate.open()
    const r = startRunner({ leaseMs: 600 })
    await until(() => starts.includes(first.id), 'the first job runs')
    await until(() => queue.renewGate.waiting > 0, 'a renewal of the first job is in flight')
    const second = (await queue.enqueue(exportJob('b'))).job
    r.kick()
    await until(() => starts.includes(second.id), 'the second job runs')
    queue.renewGate.open()
    doneGate(second.id).open()
    await until(async () => (await queue.get(second.id))?.status === 'succeeded', 'the second job succeeds')
    expect(await queue.get(second.id)).toMatchObject({ status: 'succeeded', attempts: 1 })
    expect(starts.filter((id) => id === second.id).length).toBe(1)
  })

  it('[JR4] a cancelled job stops: at once when stopped here, at its next lease renewal otherwise; never queued again', async () => {
    queue.claimGate.open()
    const here = (await queue.enqueue(exportJob('a'))).job
    const elsewhere = (await queue.enqueue(exportJob('b'))).job
    const r = startRunner({ leaseMs: 600 })
    await until(() => starts.includes(here.id) && starts.includes(elsewhere.id), 'both jobs run')
    await queue.cancel(here.id, 'cancelled')
    r.stop(here.id)
    // No renewal is answered yet: only stop() can end it.
    await until(() => r.stats().running === 1, 'the job stopped here ends')
    // Cancelled through another process, which cannot reach this runner: its renewal finds the lease gone.
    await queue.cancel(elsewhere.id, 'cancelled')
    queue.renewGate.open()
    await until(() => r.stats().running === 0, 'the other job ends at its next renewal')
    for (const id of [here.id, elsewhere.id]) {
      expect(await queue.get(id)).toMatchObject({ status: 'failed', error: 'cancelled', attempts: 1 })
    }
    expect(starts).toHaveLength(2)
  })

  it('[JR3] a claim answered after close() hands its jobs back at once, never starting them', async () => {
    const job = (await queue.enqueue(exportJob('a'))).job
    const r = startRunner()
    await until(() => queue.claimGate.waiting > 0, 'the claim is asked')
    const closing = r.close()
    queue.claimGate.open()
    await closing
    expect(starts).toEqual([])
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 1 })
  })
})
