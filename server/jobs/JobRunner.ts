/**
 * Runs queued jobs: claims what the queue allows (one per user and lane, at most
 * `concurrency` here), keeps their leases alive, reports progress and the outcome, and
 * publishes every change of a job (to the user's inbox document).
 *
 * Handlers are async and must yield to the event loop between chunks of work
 * (`ctx.checkpoint()`), so that running jobs never hold up sync traffic.
 */
import { randomUUID } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { JobCounts, JobOutcome, JobQueue, JobRetry, StoredJob } from './JobQueue.js'

/** What a handler gets to talk to the runner. */
export interface JobContext {
  readonly job: StoredJob
  readonly signal: AbortSignal
  /**
   * Records progress: stored and published in the background, in order, at most every PROGRESS_PUBLISH_MS
   * (the outcome has the final counts and is stored after the last of them). A failed write is reported, not thrown.
   */
  progress(counts: JobCounts): void
  /**
   * Shows that a request is waiting to be tried again (null: it was, and went through): stored
   * and published in the background, in order with progress, never throttled.
   */
  retrying(retry: JobRetry | null): void
  /** Yields to the event loop; throws if the job was stopped. */
  checkpoint(): Promise<void>
}

export type JobHandler = (ctx: JobContext) => Promise<JobOutcome>

/** A failure the user should read on the job; anything else is reported as an internal error. */
export class JobError extends Error {}

export interface JobRunnerOptions {
  /** Jobs running at once in this process. @default 4 */
  concurrency?: number
  /** How long a claim holds without renewal; a dead process's jobs run again after it. @default 15000 */
  leaseMs?: number
  /** How often to look for jobs from elsewhere and expired leases. @default 1000 */
  pollMs?: number
  /** Attempts before a job whose process keeps dying is failed. @default 3 */
  maxAttempts?: number
  onError?: (error: unknown, context: string) => void
}

/** Progress is published to the inbox at most this often per job. */
export const PROGRESS_PUBLISH_MS = 250
/** How long close() waits for running jobs to reach a checkpoint. */
export const CLOSE_WAIT_MS = 5000

/** Lets one waiter through per event-loop turn, in arrival order. */
export class Turnstile {
  private readonly waiters: (() => void)[] = []
  private scheduled = false

  pass(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.waiters.shift()?.()
      if (this.waiters.length > 0) this.schedule()
    })
  }
}

interface Running {
  job: StoredJob
  abort: AbortController
  done: Promise<void>
}

export class JobRunner {
  readonly worker = randomUUID()
  private readonly running = new Map<string, Running>()
  private readonly timers: NodeJS.Timeout[] = []
  private scheduled = false
  private closed = false
  private peak = 0
  /**
   * The claim in flight, if any. Claims run one at a time: two interleaved claims would each
   * ask for `concurrency - running` jobs and together run more than `concurrency`.
   */
  private claiming: Promise<void> | null = null
  /** Someone asked for a claim while one was in flight: claim again once it is done. */
  private claimAgain = false
  /** A recovery or lease renewal is in flight: the timer's next call is skipped, not piled up. */
  private recovering = false
  private renewing = false
  /** One chunk of job work per event-loop turn, however many jobs run: sync traffic waits for one chunk at most. */
  private readonly turnstile = new Turnstile()
  private readonly options: Required<Omit<JobRunnerOptions, 'onError'>> & JobRunnerOptions

  constructor(
    private readonly queue: JobQueue,
    private readonly handlerFor: (job: StoredJob) => JobHandler,
    private readonly publish: (job: StoredJob) => void,
    options: JobRunnerOptions = {},
  ) {
    this.options = {
      ...options,
      concurrency: options.concurrency ?? 4,
      leaseMs: options.leaseMs ?? 15_000,
      pollMs: options.pollMs ?? 1000,
      maxAttempts: options.maxAttempts ?? 3,
    }
  }

  start(): void {
    const poll = setInterval(() => void this.tick(), this.options.pollMs)
    const renew = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)))
    poll.unref()
    renew.unref()
    this.timers.push(poll, renew)
    void this.tick()
  }

  /** Jobs running now, and the most that ever ran at once. */
  stats(): { running: number; peak: number } {
    return { running: this.running.size, peak: this.peak }
  }

  /** Looks for work at the end of this event-loop turn. */
  kick(): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.pump()
    })
  }

  private async tick(): Promise<void> {
    if (this.closed || this.recovering) return
    this.recovering = true
    try {
      for (const job of await this.queue.recoverExpired(this.options.maxAttempts)) this.publish(job)
    } catch (error) {
      this.options.onError?.(error, 'job recovery')
    } finally {
      this.recovering = false
    }
    this.pump()
  }

  private pump(): void {
    if (this.closed) return
    if (this.claiming) {
      this.claimAgain = true
      return
    }
    this.claiming = this.claimAndLaunch().finally(() => {
      this.claiming = null
      if (!this.claimAgain) return
      this.claimAgain = false
      this.pump()
    })
  }

  private async claimAndLaunch(): Promise<void> {
    // Only this method adds to `running`, one call at a time: the slots free now stay free until it returns.
    const max = this.options.concurrency - this.running.size
    if (max <= 0) return
    let claimed: StoredJob[]
    try {
      claimed = await this.queue.claim(this.worker, max, this.options.leaseMs)
    } catch (error) {
      this.options.onError?.(error, 'job claim')
      return
    }
    if (this.closed) {
      // close() came while the claim was in flight: hand the jobs back rather than hold them until their leases expire.
      await Promise.all(claimed.map((job) => this.release(job.id)))
      return
    }
    for (const job of claimed) this.launch(job)
    this.peak = Math.max(this.peak, this.running.size)
  }

  /**
   * Stops the job if it runs here (it was cancelled): its handler stops at its next checkpoint.
   * A job running in another process stops at that process's next lease renewal instead.
   */
  stop(id: string): void {
    this.running.get(id)?.abort.abort(new Error('cancelled'))
  }

  private launch(job: StoredJob): void {
    const abort = new AbortController()
    const entry: Running = { job, abort, done: Promise.resolve() }
    this.running.set(job.id, entry)
    this.publish(job)
    entry.done = this.execute(job, abort.signal).finally(() => {
      this.running.delete(job.id)
      this.kick()
    })
  }

  private async execute(job: StoredJob, signal: AbortSignal): Promise<void> {
    let lastPublished = 0
    // Progress is stored in the background, one write after another, and the outcome only after the last of them:
    // an older count can never land (or be published) after a newer one or after the outcome.
    let writes = Promise.resolve()
    const store = (what: string, write: () => Promise<boolean>) => {
      writes = writes.then(async () => {
        try {
          if (await write()) await this.publishStored(job.id)
        } catch (error) {
          this.options.onError?.(error, `job ${job.id} ${what}`)
        }
      })
    }
    const ctx: JobContext = {
      job,
      signal,
      progress: (counts) => {
        // Each write is a durable commit: keep them (and inbox updates) to a few per second.
        const now = Date.now()
        if (signal.aborted || now - lastPublished < PROGRESS_PUBLISH_MS) return
        lastPublished = now
        store('progress', () => this.queue.progress(job.id, this.worker, counts))
      },
      retrying: (retry) => {
        if (!signal.aborted) store('retry', () => this.queue.retrying(job.id, this.worker, retry))
      },
      checkpoint: async () => {
        await this.turnstile.pass()
        signal.throwIfAborted()
      },
    }
    let outcome: JobOutcome | null = null
    let failure: unknown = null
    try {
      await nextTurn()
      outcome = await this.handlerFor(job)(ctx)
    } catch (error) {
      failure = error
    }
    // Decided as the handler returns, before any await: a stop that comes later (close, lease lost) no longer
    // discards a result that is already complete only to run the job again; a lost lease makes finish refuse it.
    const stopped = signal.aborted
    await writes
    if (stopped) return this.release(job.id)
    try {
      if (outcome === null) {
        if (!(failure instanceof JobError)) this.options.onError?.(failure, `job ${job.id}`)
        const message = failure instanceof JobError ? failure.message : 'internal error while running the job'
        outcome = { status: 'failed', counts: (await this.queue.get(job.id))?.counts ?? job.counts, error: message }
      }
      if (await this.queue.finish(job.id, this.worker, outcome)) await this.publishStored(job.id)
    } catch (error) {
      this.options.onError?.(error, `job ${job.id} finish`)
    }
  }

  private async release(id: string): Promise<void> {
    try {
      await this.queue.release(id, this.worker)
    } catch {
      /* closing: the lease expires and the job runs again */
    }
  }

  private async publishStored(id: string): Promise<void> {
    const stored = await this.queue.get(id)
    if (stored) this.publish(stored)
  }

  private async renewLeases(): Promise<void> {
    if (this.running.size === 0 || this.renewing) return
    this.renewing = true
    const asked = [...this.running]
    try {
      const held = new Set(
        await this.queue.renew(
          this.worker,
          asked.map(([id]) => id),
          this.options.leaseMs,
        ),
      )
      // A lease lost (this process stalled past it) means another worker may run the job: stop ours. Only the runs
      // asked about: a job that ended meanwhile, or was claimed again as a new run, is not this answer's to stop.
      for (const [id, entry] of asked) if (!held.has(id) && this.running.get(id) === entry) entry.abort.abort(new Error('lease lost'))
    } catch (error) {
      this.options.onError?.(error, 'job lease renewal')
    } finally {
      this.renewing = false
    }
  }

  /** Stops claiming; running jobs are stopped at their next checkpoint and put back in the queue. */
  async close(): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    const running = [...this.running.values()]
    for (const entry of running) entry.abort.abort(new Error('server shutting down'))
    // A claim in flight hands its jobs back (claimAndLaunch sees `closed`); wait for that too.
    const pending = [...running.map((entry) => entry.done), this.claiming]
    // A handler stuck in a request past the wait keeps its lease until it expires; then it runs again.
    await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())])
  }
}
