/**
 * The sign-in throttle counts an attempt when it starts, so concurrent guesses cannot all
 * get past the check while the password hashes run, and it keeps its counts in the
 * database, so a restart does not reset them.
 */
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LIMITS } from '../shared/protocol.js'
import type { AccordOptions } from '../server/AccordServer.js'
import { type TestServer, seedWorkspace, signInStatus, startServer, tempDir } from './helpers/server.js'

const countOf = (statuses: number[], status: number) => statuses.filter((s) => s === status).length

/** A seeded server for the tests of one describe block. */
function seededServer(options: AccordOptions = {}) {
  const ctx = {} as { t: TestServer; users: Awaited<ReturnType<typeof seedWorkspace>> }
  beforeAll(async () => {
    ctx.t = await startServer(options)
    ctx.users = await seedWorkspace(ctx.t.server)
  })
  afterAll(() => ctx.t.close())
  return ctx
}

describe('sign-in attempts counted when they start', () => {
  const ctx = seededServer()

  it(`[R1] 40 concurrent wrong sign-ins for one account: only LOGIN_FAILURES_PER_ACCOUNT (${LIMITS.LOGIN_FAILURES_PER_ACCOUNT}) are tried, the other 30 answer 429`, async () => {
    const statuses = await Promise.all(Array.from({ length: 40 }, () => signInStatus(ctx.t.url, ctx.users.member.email, 'wrong password')))
    expect(countOf(statuses, 401)).toBe(LIMITS.LOGIN_FAILURES_PER_ACCOUNT)
    expect(countOf(statuses, 429)).toBeGreaterThanOrEqual(30)
  })

  it('[R2] 30 concurrent guesses that include the right password: only as many as the limit are tried', async () => {
    const guesses = Array.from({ length: 30 }, (_, i) => (i === 29 ? ctx.users.owner.password : `guess ${i}`))
    const statuses = await Promise.all(guesses.map((password) => signInStatus(ctx.t.url, ctx.users.owner.email, password)))
    expect(countOf(statuses, 401) + countOf(statuses, 200)).toBe(LIMITS.LOGIN_FAILURES_PER_ACCOUNT)
    expect(countOf(statuses, 429)).toBe(30 - LIMITS.LOGIN_FAILURES_PER_ACCOUNT)
  })
})

describe('a success within the limit', () => {
  const ACCOUNT = 3
  const ctx = seededServer({ limits: { LOGIN_FAILURES_PER_ACCOUNT: ACCOUNT } })

  it('[R3] a right password after wrong ones still signs in while under the limit, and takes its own attempt back', async () => {
    const { email, password } = ctx.users.member
    for (let i = 0; i < ACCOUNT - 1; i++) expect(await signInStatus(ctx.t.url, email, 'wrong password')).toBe(401)
    // Each success is refunded: were it counted, the second would already be refused.
    for (let i = 0; i < 3; i++) expect(await signInStatus(ctx.t.url, email, password)).toBe(200)
    expect(await signInStatus(ctx.t.url, email, 'wrong password')).toBe(401)
    expect(await signInStatus(ctx.t.url, email, password)).toBe(429)
  })
})

describe('the throttle across a restart', () => {
  const dir = tempDir()
  const db = join(dir, 'accord.db')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('[R4] an account throttled before a restart of the server on the same database is still throttled after it', async () => {
    const first = await startServer({ db })
    const users = await seedWorkspace(first.server)
    const statuses = await Promise.all(
      Array.from({ length: LIMITS.LOGIN_FAILURES_PER_ACCOUNT }, () => signInStatus(first.url, users.viewer.email, 'wrong password')),
    )
    expect(countOf(statuses, 401)).toBe(LIMITS.LOGIN_FAILURES_PER_ACCOUNT)
    await first.close()

    const second = await startServer({ db })
    try {
      expect(await signInStatus(second.url, users.viewer.email, users.viewer.password)).toBe(429)
      expect(await signInStatus(second.url, users.owner.email, users.owner.password)).toBe(200)
    } finally {
      await second.close()
    }
  })
})
