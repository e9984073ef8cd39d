/**
 * The server's DocStore: documents load on the main thread's connection (WAL readers do
 * not wait for writers), and writes are committed on a writer thread with its own
 * connection, so the event loop never blocks on a slow commit. The registry sends the
 * next batch when the previous one is durable, so the batches group themselves (group
 * commit) and two writes never overlap.
 *
 * `auto` (the default) commits on the event loop while commits are fast (a recent
 * average under INLINE_COMMIT_MS: a thread round trip would cost more than the commit),
 * and on the writer thread once they are slower (a slow disk, a large checkpoint), until
 * they are fast again.
 */
import { Worker } from 'node:worker_threads'
import type { DocStore, LoadedDoc, PersistEntry } from './DocStore.js'
import { InlineDocStore } from './InlineDocStore.js'
import type { Db, OpenOptions } from './openDatabase.js'

export interface WriterData {
  file: string
  synchronous: OpenOptions['synchronous']
}

export type WriterRequest = { id: number; op: 'append'; entries: PersistEntry[] } | { id: number; op: 'close' }

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

  constructor(db: Db, file: string, options: OpenOptions & { mode?: WriterMode } = {}) {
    this.mode = options.mode ?? 'auto'
    if (file === ':memory:') throw new Error('ThreadedDocStore needs a database file (the writer thread opens its own connection)')
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

  /** Whether the writer thread has been started (in `auto` mode, once commits got slow). */
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
      return written
    }
    // A view onto a larger buffer would be copied whole; send exactly the update bytes.
    const exactly = () =>
      entries.map((entry) => ({
        ...entry,
        updates: entry.updates.map((u) => ({ ...u, update: exact(u.update) })),
      }))
    return this.request((id) => ({ id, op: 'append', entries: exactly() }))
  }

  close(): Promise<void> {
    this.closed ??= this.stopThread()
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
