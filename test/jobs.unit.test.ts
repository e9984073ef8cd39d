/**
 * Pure and store-level rules of the job machinery: the queue's scheduling and lease rules
 * on a real SQLite database, the token bucket, backoff, and the Sheets range planning.
 */
import { describe, expect, it } from 'vitest'
import { changedRanges, columnName, diffCounts, packRequests } from '../server/jobs/connectors/sheets.js'
import type { NewJob } from '../server/jobs/JobQueue.js'
import { DEFAULT_RETRY, RetriesExhausted, backoffMs, parseRetryAfter, withRetry } from '../server/jobs/retry.js'
import { SqliteJobQueue } from '../server/jobs/SqliteJobQueue.js'
import { RequestQuota } from '../server/jobs/RequestQuota.js'
import { openDatabase } from '../server/store/openDatabase.js'

function queueAt(clock: { now: number }) {
  return new SqliteJobQueue(openDatabase(':memory:'), () => clock.now)
}

const exportJob = (userId: string, target = 'csv', key: string | null = null): NewJob => ({
  workspace: 'w',
  userId,
  kind: 'export',
  target,
  params: {},
  counts: {},
  coalesceKey: key,
})

describe('SqliteJobQueue', () => {
  it('[JQ1] claims at most one job per user and target, oldest first, across users', () => {
    const q = queueAt({ now: 1000 })
    const a1 = q.enqueue(exportJob('a')).job
    q.enqueue(exportJob('a'))
    const a3 = q.enqueue(exportJob('a', 'xlsx')).job
    const b1 = q.enqueue(exportJob('b')).job
    const claimed = q.claim('w1', 10, 5000)
    expect(claimed.map((j) => j.id)).toEqual([a1.id, a3.id, b1.id])
    expect(claimed.every((j) => j.status === 'running' && j.attempts === 1)).toBe(true)
    expect(q.claim('w2', 10, 5000)).toEqual([])
    expect(q.finish(a1.id, 'w1', { status: 'succeeded', counts: {} })).toBe(true)
    expect(q.claim('w2', 10, 5000).map((j) => j.userId)).toEqual(['a'])
  })

  it('[JQ2] an identical job still queued is coalesced; once claimed, a new one is queued', () => {
    const q = queueAt({ now: 1000 })
    const first = q.enqueue(exportJob('a', 'csv', 'k'))
    const second = q.enqueue(exportJob('a', 'csv', 'k'))
    expect(second).toEqual({ job: first.job, coalesced: true })
    q.claim('w', 1, 5000)
    expect(q.enqueue(exportJob('a', 'csv', 'k')).coalesced).toBe(false)
    expect(q.position(first.job.id)).toBeUndefined()
  })

  it('[JQ3] only the lease holder finishes a job; an expired lease requeues it, and fails it after maxAttempts', () => {
    const clock = { now: 1000 }
    const q = queueAt(clock)
    const job = q.enqueue(exportJob('a')).job
    q.claim('dead', 1, 100)
    expect(q.finish(job.id, 'other', { status: 'succeeded', counts: {} })).toBe(false)
    expect(q.recoverExpired(3)).toEqual([])
    clock.now += 101
    expect(q.recoverExpired(3).map((j) => j.status)).toEqual(['queued'])
    expect(q.finish(job.id, 'dead', { status: 'succeeded', counts: {} })).toBe(false)
    for (let attempt = 2; attempt <= 3; attempt++) {
      expect(q.claim(`w${attempt}`, 1, 100)[0]?.attempts).toBe(attempt)
      clock.now += 101
      q.recoverExpired(3)
    }
    expect(q.get(job.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/3 times; gave up/) })
  })

  it('a renewed lease is not recovered; a released job is queued again', () => {
    const clock = { now: 1000 }
    const q = queueAt(clock)
    const job = q.enqueue(exportJob('a')).job
    q.claim('w', 1, 100)
    clock.now += 90
    expect(q.renew('w', [job.id], 100)).toEqual([job.id])
    clock.now += 90
    expect(q.recoverExpired(3)).toEqual([])
    q.release(job.id, 'w')
    expect(q.get(job.id)?.status).toBe('queued')
  })
})

describe('RequestQuota', () => {
  it('lets a burst of `capacity` through at once, then paces at the rate', async () => {
    const bucket = new RequestQuota(1200, 2) // one token per 50 ms
    const start = Date.now()
    await bucket.take()
    await bucket.take()
    expect(Date.now() - start).toBeLessThan(40)
    await bucket.take()
    expect(Date.now() - start).toBeGreaterThanOrEqual(40)
  })

  it('a waiting take rejects when its signal aborts', async () => {
    const bucket = new RequestQuota(1, 1)
    await bucket.take()
    const abort = new AbortController()
    const waiting = bucket.take(abort.signal)
    abort.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
  })
})

describe('retry', () => {
  it('backoff grows exponentially with full jitter and never undercuts Retry-After', () => {
    expect(backoffMs(DEFAULT_RETRY, 0, undefined, () => 0.999)).toBe(999)
    expect(backoffMs(DEFAULT_RETRY, 3, undefined, () => 0.5)).toBe(4000)
    expect(backoffMs(DEFAULT_RETRY, 0, 5000, () => 0)).toBe(5000)
    expect(backoffMs(DEFAULT_RETRY, 20, 999_999, () => 1)).toBe(DEFAULT_RETRY.maxDelayMs)
    expect(parseRetryAfter('7')).toBe(7000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000)
  })

  it('gives up after maxAttempts with the last error; does not retry what the judge refuses', async () => {
    let calls = 0
    const failing = () => Promise.reject(new Error(`fail ${++calls}`))
    const policy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 }
    const error = await withRetry(failing, () => ({ retry: true }), policy).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RetriesExhausted)
    expect((error as RetriesExhausted).attempts).toBe(3)
    calls = 0
    await expect(withRetry(failing, () => ({ retry: false }), policy)).rejects.toThrow('fail 1')
  })
})

describe('Sheets range planning', () => {
  const row = (id: string, hash = id) => ({ id, cells: [id, hash], hash })

  it('writes only the rows that changed at their position, in contiguous ranges', () => {
    const previous = {
      header: ['id', 'v'],
      rows: [
        ['a', 'a'],
        ['b', 'b'],
        ['c', 'c'],
        ['d', 'd'],
      ] as [string, string][],
    }
    const rows = [row('a'), row('b', 'b2'), row('c'), row('e')]
    expect(changedRanges('deals', ['id', 'v'], previous, rows).map((r) => r.range)).toEqual(["'deals'!A3:B3", "'deals'!A5:B5"])
    expect(diffCounts(previous.rows, rows)).toEqual({ added: 1, updated: 1, deleted: 1 })
    expect(changedRanges('deals', ['id', 'v', 'w'], previous, rows)[0]!.range).toBe("'deals'!A1:C1")
  })

  it('packs ranges into requests under the byte limit, splitting a range that alone is too large', () => {
    const values = Array.from({ length: 100 }, (_, i) => [`row ${i}`, 'x'.repeat(100)])
    const batches = packRequests([{ range: "'t'!A2:B101", values }], 3000)
    expect(batches.length).toBeGreaterThan(3)
    for (const batch of batches) expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThan(3000 + 100)
    expect(batches.flat().reduce((n, r) => n + r.values.length, 0)).toBe(100)
    expect(batches.flat()[0]!.range).toMatch(/^'t'!A2:B\d+$/)
    expect(columnName(0) + columnName(25) + columnName(26) + columnName(701)).toBe('AZAAZZ')
  })
})
