/**
 * Work tried again later, once per key at a time, each wait twice the last up to a ceiling:
 * how the authorities write a decision or a number again after the database or the document
 * was unavailable. Timers never hold the process open; `close` drops the waiting ones.
 */
import { databaseUnreachable, queryTimedOut } from '../pg/retry.js'
import { PersistError } from '../sync/DocRegistry.js'

/** Whether `error` says the database or the document was unavailable for now: worth trying again later. */
export function unavailableForNow(error: unknown): boolean {
  return databaseUnreachable(error) || queryTimedOut(error) || error instanceof PersistError
}

export class RetryLater {
  private readonly waiting = new Map<string, NodeJS.Timeout>()
  private closed = false

  constructor(private readonly maxMs = 30_000) {}

  /**
   * Runs `task` after `delayMs` unless one for `key` is already waiting (or this is closed);
   * `task` gets the wait to use if it has to come back again.
   */
  schedule(key: string, delayMs: number, task: (nextDelayMs: number) => void): void {
    if (this.closed || this.waiting.has(key)) return
    const timer = setTimeout(() => {
      this.waiting.delete(key)
      task(Math.min(delayMs * 2, this.maxMs))
    }, delayMs)
    timer.unref()
    this.waiting.set(key, timer)
  }

  close(): void {
    this.closed = true
    for (const timer of this.waiting.values()) clearTimeout(timer)
    this.waiting.clear()
  }
}
