/**
 * The server's DocStore: documents load on the main thread's connection (WAL readers do
 * not wait for writers), and writes are committed on a writer thread with its own
 * connection, so the event loop never blocks on a slow commit. The registry sends the
 * next batch when the previous one is durable, so the batches group themselves (group
 * commit) and two writes never overlap.
 *
 * `auto` (the default) commits on the event loop while commits are fast (a recent
 * average under INLINE_COMMIT_MS: a thread round trip would cost more than the commit),
 * and on the writer thread once they are slower (a slow disk), until they are fast again.
 *
 * Checkpoints run on the writer thread, off the commits: SQLite's automatic checkpoint runs
 * inside the commit that crosses its threshold, so that commit's batch (and everything
 * arriving meanwhile, when it runs on the event loop) waited for some thousand pages to be
 * copied into the database and the database fsync'd before being broadcast. Here, once a
 * commit leaves CHECKPOINT_FRAMES in the WAL, the thread is asked for a PASSIVE checkpoint,
 * which runs beside the next commits. SQLite's own checkpoint stays as a backstop, at
 * BACKSTOP_FRAMES, should the thread's not keep up (or for other writers of the connection).
 */
import { Worker } from 'node:worker_threads'
import type { DocStore, LoadedDoc, PersistEntry } from './DocStore.js'
import { InlineDocStore } from './InlineDocStore.js'
import type { Db, OpenOptions } from './openDatabase.js'
import { BACKSTOP_FRAMES, CHECKPOINT_FRAMES, WalFrames } from './walFile.js'

export interface WriterData {
  file: string
  synchronous: OpenOptions['synchronous']
}

export type WriterRequest =
  | { id: number; op: 'append'; entries: PersistEntry[] }
  | { id: number; op: 'checkpoint' }
  | { id: number; op: 'close' }

export interface WriterReply {
  /** 0: the thread has opened its connection and takes commits. */
  id: number
  error?: string
  /** How long the commit took on the thread. */
  ms?: number
}

export type WriterMode = 'auto' | 'thread'

/** Commits faster than this (on average) run on the event loop in `auto` mode. */
export const INLINE_COMMIT_MS = 1
/** Weight of the newest commit in the running average. */
const AVERAGE_WEIGHT = 0.2

/**
 * The thread's entry, next to this module: from the sources, writerThread.mjs registers tsx and
 * loads writerThread.ts; in the compiled server (build/), it is writerThread.ts compiled.
 */
const ENTRY = new URL('./writerThread.mjs', import.meta.url)

export class ThreadedDocStore implements DocStore {
  /** Loads, and the commits that run on the event loop, on the main thread's connection. */
  private readonly local: InlineDocStore
  private worker: Worker | null = null
  /** The writer thread has opened its connection. */
  private ready = false
  /** What the writer thread opens, once it is started. */
  private readonly writerData: WriterData
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()
  private nextId = 1
  private failed: Error | null = null
  private closed: Promise<void> | null = null
  /** Running average of commit durations (ms), wherever they ran. */
  private commitMs = 0
  private readonly mode: WriterMode
  /** The WAL's frame count, read after each commit. */
  private readonly frames: WalFrames
  /** A checkpoint was asked of the thread and has not answered yet. */
  private checkpointAsked = false

  constructor(db: Db, file: string, options: OpenOptions & { mode?: WriterMode } = {}) {
    this.mode = options.mode ?? 'auto'
    if (file === ':memory:') throw new Error('ThreadedDocStore needs a database file (the writer thread opens its own connection)')
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_FRAMES}`)
    this.frames = new WalFrames(file)
    this.local = new InlineDocStore(db)
    this.writerData = { file, synchronous: options.synchronous }
    if (this.mode === 'thread') this.startThread()
  }

  private startThread(): Worker {
    const worker = new Worker(ENTRY, { workerData: this.writerData })
    worker.on('message', (reply: WriterReply) => {
      if (reply.id === 0) {
        this.ready = true
        return
      }
      const waiter = this.waiting.get(reply.id)
      if (!waiter) return
      this.waiting.delete(reply.id)
      if (reply.ms !== undefined) this.observe(reply.ms)
      if (reply.error === undefined) waiter.resolve()
      else waiter.reject(new Error(reply.error))
    })
    worker.on('error', (error) => this.fail(error))
    worker.on('exit', (code) => this.fail(new Error(`the writer thread exited (${code})`)))
    this.worker = worker
    return worker
  }

  load(docName: string): Promise<LoadedDoc> {
    return this.local.load(docName)
  }

  /** Where the next commit runs. */
  get inline(): boolean {
    return this.mode === 'auto' && (this.commitMs < INLINE_COMMIT_MS || !this.ready)
  }

  /** Whether a checkpoint asked of the thread has yet to answer. */
  get checkpointing(): boolean {
    return this.checkpointAsked
  }

  /** Whether the writer thread has been started (in `auto` mode, once commits got slow or the WAL was first due a checkpoint). */
  get threadStarted(): boolean {
    return this.worker !== null
  }

  append(entries: PersistEntry[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    if (this.inline) {
      const startedAt = performance.now()
      const written = this.local.append(entries)
      this.observe(performance.now() - startedAt)
      if (this.commitMs >= INLINE_COMMIT_MS && !this.worker && !this.closed) this.startThread()
      this.checkpointIfDue()
      return written
    }
    // A view onto a larger buffer would be copied whole; send exactly the update bytes.
    const exactly = () =>
      entries.map((entry) => ({
        ...entry,
        updates: entry.updates.map((u) => ({ ...u, update: exact(u.update) })),
      }))
    return this.request((id) => ({ id, op: 'append', entries: exactly() })).then(() => this.checkpointIfDue())
  }

  /**
   * Asks the thread for a checkpoint when the last commit left CHECKPOINT_FRAMES in the WAL
   * (one at a time). It runs beside the commits that follow; should one land meanwhile, the
   * WAL cannot start again from its start, and the next commit asks again for what is left.
   */
  private checkpointIfDue(): void {
    if (this.checkpointAsked || this.closed || this.failed) return
    const frames = this.frames.read()
    if (frames === null || frames < CHECKPOINT_FRAMES) return
    this.checkpointAsked = true
    // Asked once the commit's updates are broadcast (starting the thread, the first time, takes a while).
    setImmediate(() => {
      const done = () => (this.checkpointAsked = false)
      if (this.closed || this.failed) return done()
      // A checkpoint that fails leaves the WAL to SQLite's backstop; a failed thread fails the next append.
      void this.request((id) => ({ id, op: 'checkpoint' })).then(done, done)
    })
  }

  close(): Promise<void> {
    this.closed ??= this.stopThread().finally(() => this.frames.close())
    return this.closed
  }

  private stopThread(): Promise<void> {
    if (!this.worker) return Promise.resolve()
    if (this.failed) return this.worker.terminate().then(() => undefined)
    return this.request((id) => ({ id, op: 'close' })).catch(() => undefined)
  }

  private request(make: (id: number) => WriterRequest): Promise<void> {
    if (this.failed) return Promise.reject(this.failed)
    return new Promise<void>((resolve, reject) => {
      // Made inside the executor: entries that cannot be sent (an update that is not bytes) reject the append instead of throwing.
      const request = make(this.nextId++)
      this.waiting.set(request.id, { resolve, reject })
      ;(this.worker ?? this.startThread()).postMessage(request)
    })
  }

  failure(): Error | null {
    return this.closed ? null : this.failed
  }

  private observe(ms: number): void {
    this.commitMs += AVERAGE_WEIGHT * (ms - this.commitMs)
  }

  private fail(error: Error): void {
    this.failed ??= error
    for (const waiter of this.waiting.values()) waiter.reject(this.failed)
    this.waiting.clear()
  }
}

function exact(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()
}
