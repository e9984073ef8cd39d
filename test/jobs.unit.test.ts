/**
 * Pure rules of the job machinery: the token bucket, backoff, and the Sheets range planning.
 * The queue's own rules are in test/jobqueue.contract.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { changedRanges, columnName, diffCounts, packRequests } from '../server/jobs/connectors/sheets.js'
import { jobStage } from '../server/jobs/JobQueue.js'
import { DEFAULT_RETRY, RetriesExhausted, backoffMs, parseRetryAfter, withRetry } from '../server/jobs/retry.js'
import { RequestQuota } from '../server/jobs/RequestQuota.js'

describe('jobStage', () => {
  it('grows along every path of a job (run, requeued, run again, finished), so an older state is never shown over a newer one', () => {
    const path = (...states: [string, number][]) => states.map(([status, attempts]) => jobStage({ status: status as 'queued', attempts }))
    const increasing = (stages: number[]) => stages.every((stage, i) => i === 0 || stage > stages[i - 1]!)
    expect(increasing(path(['queued', 0], ['running', 1], ['succeeded', 1]))).toBe(true)
    expect(increasing(path(['queued', 0], ['running', 1], ['queued', 1], ['running', 2], ['failed', 2]))).toBe(true)
    expect(
      increasing(path(['queued', 0], ['running', 1], ['queued', 1], ['running', 2], ['queued', 2], ['running', 3], ['failed', 3])),
    ).toBe(true)
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
    const waits: unknown[] = []
    const onWait = (wait: unknown) => waits.push(wait)
    const error = await withRetry(failing, () => ({ retry: true, reason: 'quota' }), policy, { onWait }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RetriesExhausted)
    expect((error as RetriesExhausted).attempts).toBe(3)
    expect(waits).toEqual([
      { attempt: 2, of: 3, reason: 'quota', delayMs: expect.any(Number) },
      { attempt: 3, of: 3, reason: 'quota', delayMs: expect.any(Number) },
    ])
    calls = 0
    await expect(withRetry(failing, () => ({ retry: false }), policy)).rejects.toThrow('fail 1')
  })

  it('tells of each wait, and that an attempt after a wait went through (null); nothing when the first attempt does', async () => {
    let calls = 0
    const waits: unknown[] = []
    const onWait = (wait: unknown) => waits.push(wait)
    const flaky = async () => {
      if (++calls < 3) throw new Error('busy')
      return calls
    }
    const policy = { maxAttempts: 6, baseDelayMs: 1, maxDelayMs: 5 }
    expect(await withRetry(flaky, () => ({ retry: true, reason: 'unavailable' }), policy, { onWait })).toBe(3)
    expect(waits).toEqual([
      { attempt: 2, of: 6, reason: 'unavailable', delayMs: expect.any(Number) },
      { attempt: 3, of: 6, reason: 'unavailable', delayMs: expect.any(Number) },
      null,
    ])
    waits.length = 0
    expect(
      await withRetry(
        async () => 'ok',
        () => ({ retry: true, reason: 'quota' }),
        policy,
        { onWait },
      ),
    ).toBe('ok')
    expect(waits).toEqual([])
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
