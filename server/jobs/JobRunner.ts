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
import type { JobCounts, JobOutcome, JobQueue, StoredJob } from './JobQueue.js'

/** What a handler gets to talk to the runner. */
export interface JobContext {
  readonly job: StoredJob
  readonly signal: AbortSignal
  /** Records progress (stored and published at most every PROGRESS_PUBLISH_MS; the outcome has the final counts). */
  progress(counts: JobCounts): void
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
    const poll = setInterval(() => this.tick(), this.options.pollMs)
    const renew = setInterval(() => this.renewLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)))
    poll.unref()
    renew.unref()
    this.timers.push(poll, renew)
    this.tick()
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

  private tick(): void {
    if (this.closed) return
    try {
      for (const job of this.queue.recoverExpired(this.options.maxAttempts)) this.publish(job)
    } catch (error) {
      this.options.onError?.(error, 'job recovery')
    }
    this.pump()
  }

  private pump(): void {
    if (this.closed) return
    let claimed: StoredJob[]
    try {
      claimed = this.queue.claim(this.worker, this.options.concurrency - this.running.size, this.options.leaseMs)
    } catch (error) {
      this.options.onError?.(error, 'job claim')
      return
    }
    for (const job of claimed) this.launch(job)
    this.peak = Math.max(this.peak, this.running.size)
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
    const ctx: JobContext = {
      job,
      signal,
      progress: (counts) => {
        // Each write is a durable commit: keep them (and inbox updates) to a few per second.
        const now = Date.now()
        if (signal.aborted || now - lastPublished < PROGRESS_PUBLISH_MS) return
        lastPublished = now
        if (this.queue.progress(job.id, this.worker, counts)) this.publishStored(job.id)
      },
      checkpoint: async () => {
        await this.turnstile.pass()
        signal.throwIfAborted()
      },
    }
    let outcome: JobOutcome
    try {
      await nextTurn()
      outcome = await this.handlerFor(job)(ctx)
    } catch (error) {
      if (signal.aborted) {
        try {
          this.queue.release(job.id, this.worker)
        } catch {
          /* closing: the lease expires and the job runs again */
        }
        return
      }
      if (!(error instanceof JobError)) this.options.onError?.(error, `job ${job.id}`)
      const message = error instanceof JobError ? error.message : 'internal error while running the job'
      outcome = { status: 'failed', counts: this.queue.get(job.id)?.counts ?? job.counts, error: message }
    }
    try {
      if (signal.aborted) this.queue.release(job.id, this.worker)
      else if (this.queue.finish(job.id, this.worker, outcome)) this.publishStored(job.id)
    } catch (error) {
      this.options.onError?.(error, `job ${job.id} finish`)
    }
  }

  private publishStored(id: string): void {
    const stored = this.queue.get(id)
    if (stored) this.publish(stored)
  }

  private renewLeases(): void {
    if (this.running.size === 0) return
    try {
      const held = new Set(this.queue.renew(this.worker, [...this.running.keys()], this.options.leaseMs))
      // A lease lost (this process stalled past it) means another worker may run the job: stop ours.
      for (const [id, entry] of this.running) if (!held.has(id)) entry.abort.abort(new Error('lease lost'))
    } catch (error) {
      this.options.onError?.(error, 'job lease renewal')
    }
  }

  /** Stops claiming; running jobs are stopped at their next checkpoint and put back in the queue. */
  async close(): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    const running = [...this.running.values()]
    for (const entry of running) entry.abort.abort(new Error('server shutting down'))
    // A handler stuck in a request past the wait keeps its lease until it expires; then it runs again.
    await Promise.race([Promise.allSettled(running.map((entry) => entry.done)), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())])
  }
}
