/**
 * Session lifecycle across tabs: logout, expiry and revocation close every socket of
 * the session with 4401 within a second; sign-in is rate limited without revealing
 * whether an e-mail exists.
 */
import Database from 'better-sqlite3'
import { randomBytes, scryptSync } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { type Api, type TestServer, login, provider, seedWorkspace, startServer, synced, tempDir, until } from './helpers/server.js'
import { RawClient, awarenessMessage } from './helpers/trust.js'

/** Resolves with the code of the first server close a provider gets, and when. */
function firstClose(p: WebsocketProvider): Promise<{ code: number; at: number }> {
  return new Promise((resolve) => {
    p.on('connection-close', (event) => {
      if (event) resolve({ code: event.code, at: Date.now() })
    })
  })
}

describe('session lifecycle', () => {
  let t: TestServer
  let users: Awaited<ReturnType<typeof seedWorkspace>>
  const SESSION_IDLE_MS = 1500

  beforeAll(async () => {
    t = await startServer({ sessionIdleMs: SESSION_IDLE_MS })
    users = await seedWorkspace(t.server)
  })
  afterAll(() => t.close())

  async function tabs(api: Api, count: number, docName = 'acme/index/deals'): Promise<WebsocketProvider[]> {
    const ps = Array.from({ length: count }, () => provider(t.wsUrl, docName, api.token))
    await Promise.all(ps.map(synced))
    return ps
  }

  it('[S1] logout in one tab closes the session’s other sockets with 4401, within a second; other sessions stay', async () => {
    const session = await login(t.url, users.member.email, users.member.password)
    const otherSession = await login(t.url, users.member.email, users.member.password)
    const [a, b, c] = await tabs(session, 3)
    const [other] = await tabs(otherSession, 1)
    const closes = [a!, b!, c!].map(firstClose)
    const started = Date.now()
    expect((await session.request('POST', '/api/auth/logout')).status).toBe(204)
    const results = await Promise.all(closes)
    for (const { code, at } of results) {
      expect(code).toBe(4401)
      expect(at - started).toBeLessThan(1000)
    }
    expect((await session.request('GET', '/api/me')).status).toBe(401)
    expect(other!.wsconnected).toBe(true)
    expect((await otherSession.request('GET', '/api/me')).status).toBe(200)
    ;[a, b, c, other].forEach((p) => p!.destroy())
  })

  it('[S2] an expired session closes its sockets with 4401 within a second of expiring', async () => {
    const session = await login(t.url, users.member2.email, users.member2.password)
    const [a, b] = await tabs(session, 2)
    const closes = [a!, b!].map(firstClose)
    const results = await Promise.all(closes)
    const { expires_at: expiresAt } = t.server.db
      .prepare('SELECT expires_at FROM sessions WHERE id = (SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC LIMIT 1)')
      .get(users.member2.id) as { expires_at: number }
    for (const { code, at } of results) {
      expect(code).toBe(4401)
      expect(at - expiresAt).toBeLessThan(1000)
      expect(at).toBeGreaterThanOrEqual(expiresAt)
    }
    expect((await session.request('GET', '/api/me')).status).toBe(401)
    ;[a, b].forEach((p) => p!.destroy())
  })

  it('[S3] a socket in use keeps its session alive (sliding expiry)', async () => {
    const session = await login(t.url, users.owner.email, users.owner.password)
    const [a] = await tabs(session, 1)
    const codes: number[] = []
    a!.on('connection-close', (event) => event && codes.push(event.code))
    const until2x = Date.now() + 2 * SESSION_IDLE_MS
    let n = 0
    while (Date.now() < until2x) {
      a!.awareness.setLocalStateField('tick', n++)
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(codes).toEqual([])
    expect(a!.wsconnected).toBe(true)
    a!.destroy()
  })

  it('[S4] revoking a user’s sessions closes their sockets with 4401 at once', async () => {
    const session = await login(t.url, users.viewer.email, users.viewer.password)
    const [a] = await tabs(session, 1)
    const closed = firstClose(a!)
    const started = Date.now()
    await t.server.auth.revokeUserSessions(users.viewer.id)
    const { code, at } = await closed
    expect(code).toBe(4401)
    expect(at - started).toBeLessThan(1000)
    a!.destroy()
  })

  it('[S9] GET /api/auth/session answers 200 with the user when signed in and 200 {user: null} when not (no credentials, a bad token, a revoked session)', async () => {
    const session = await login(t.url, users.member2.email, users.member2.password)
    const signedIn = await session.request('GET', '/api/auth/session')
    expect(signedIn.status).toBe(200)
    expect(signedIn.body.user).toMatchObject({ id: users.member2.id, email: users.member2.email })
    expect(signedIn.body.user.passwordHash).toBeUndefined()
    const anonymous = await fetch(`${t.url}/api/auth/session`)
    expect(anonymous.status).toBe(200)
    expect(await anonymous.json()).toEqual({ user: null })
    const badCookie = await fetch(`${t.url}/api/auth/session`, { headers: { cookie: 'accord_session=nope' } })
    expect(await badCookie.json()).toEqual({ user: null })
    expect((await session.request('POST', '/api/auth/logout')).status).toBe(204)
    const revoked = await session.request('GET', '/api/auth/session')
    expect(revoked.status).toBe(200)
    expect(revoked.body).toEqual({ user: null })
  })
})

describe('sign-in rate limit', () => {
  let t: TestServer
  let users: Awaited<ReturnType<typeof seedWorkspace>>
  const ACCOUNT = 3
  const ADDRESS = 8

  beforeAll(async () => {
    t = await startServer({ limits: { LOGIN_FAILURES_PER_ACCOUNT: ACCOUNT, LOGIN_FAILURES_PER_ADDRESS: ADDRESS } })
    users = await seedWorkspace(t.server)
  })
  afterAll(() => t.close())

  const attempt = async (email: string, password = 'wrong password') => {
    const res = await fetch(`${t.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    return {
      status: res.status,
      body: (await res.json()) as { error: { code: string; message: string; retryAfterS?: number } },
      retryAfter: res.headers.get('retry-after'),
    }
  }

  it('[S5] limits failures per account and per address alike for known and unknown e-mails, with a 429 in the contract format', async () => {
    const known = users.member.email
    const unknown = 'nobody@acme.test'
    for (let i = 0; i < ACCOUNT; i++) {
      expect((await attempt(known)).status).toBe(401)
      expect((await attempt(unknown)).status).toBe(401)
    }
    const knownLimited = await attempt(known, users.member.password)
    const unknownLimited = await attempt(unknown)
    expect(knownLimited.status).toBe(429)
    expect(unknownLimited.status).toBe(429)
    // Same answer; only the seconds to wait may differ by the time between the two requests.
    const { retryAfterS: knownWait, ...knownError } = knownLimited.body.error
    const { retryAfterS: unknownWait, ...unknownError } = unknownLimited.body.error
    expect(knownError).toEqual(unknownError)
    expect(Math.abs(knownWait! - unknownWait!)).toBeLessThanOrEqual(1)
    expect(knownLimited.body.error.code).toBe('rate-limited')
    expect(Number(knownLimited.retryAfter)).toBeGreaterThan(0)

    // Per address: more failures from 127.0.0.1 under other e-mails, then even a right password waits.
    for (let i = 2 * ACCOUNT; i < ADDRESS; i++) expect((await attempt(`someone${i}@acme.test`)).status).toBe(401)
    const limited = await attempt(users.owner.email, users.owner.password)
    expect(limited.status).toBe(429)
    expect(limited.body.error.code).toBe('rate-limited')
  })
})

describe('password hashes', () => {
  let t: TestServer
  let users: Awaited<ReturnType<typeof seedWorkspace>>

  beforeAll(async () => {
    t = await startServer()
    users = await seedWorkspace(t.server)
  })
  afterAll(() => t.close())

  const storedHash = (id: string) =>
    (t.server.db.prepare('SELECT password_hash FROM users WHERE id = ?').get(id) as { password_hash: string }).password_hash

  it('[S6] are scrypt with N = 2^15; a hash with older parameters still signs in and is replaced at that sign-in', async () => {
    expect(storedHash(users.member.id)).toMatch(/^scrypt\$32768\$8\$1\$/)
    // A hash as an earlier version stored it: Node's default N = 2^14.
    const salt = randomBytes(16)
    const old = [
      'scrypt',
      16384,
      8,
      1,
      salt.toString('base64url'),
      scryptSync(users.viewer.password, salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64url'),
    ].join('$')
    t.server.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(old, users.viewer.id)

    const api = await login(t.url, users.viewer.email, users.viewer.password)
    expect(api.userId).toBe(users.viewer.id)
    const upgraded = storedHash(users.viewer.id)
    expect(upgraded).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(upgraded).not.toBe(old)
    await login(t.url, users.viewer.email, users.viewer.password)
    const wrong = await fetch(`${t.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: users.viewer.email, password: 'not the password' }),
    })
    expect(wrong.status).toBe(401)
    expect(storedHash(users.viewer.id)).toBe(upgraded)
  })
})

describe('sliding expiry and shutdown', () => {
  it('[S7] the expiry a socket in use slid forward is written by the time the server has stopped', async () => {
    const SESSION_IDLE_MS = 20_000 // slid at most every 2 s, written up to 1 s later
    const dir = tempDir()
    const db = join(dir, 'accord.db')
    const t = await startServer({ db, sessionIdleMs: SESSION_IDLE_MS })
    const users = await seedWorkspace(t.server)
    const api = await login(t.url, users.owner.email, users.owner.password)
    const expiry = (database: { prepare(sql: string): { get(...args: unknown[]): unknown } }) =>
      (database.prepare('SELECT expires_at FROM sessions WHERE user_id = ?').get(users.owner.id) as { expires_at: number }).expires_at
    const signedIn = expiry(t.server.db)
    const tab = new RawClient(`${t.wsUrl}/sync/acme/index/deals?token=${api.token}`)
    await tab.opened
    await new Promise((r) => setTimeout(r, 2100))
    tab.send(awarenessMessage([{ clientID: 7, clock: 1, json: '{}' }]))
    await tab.settled()
    await t.close()
    const reopened = new Database(db, { readonly: true })
    try {
      expect(expiry(reopened)).toBeGreaterThanOrEqual(signedIn + 2000)
    } finally {
      reopened.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('sliding expiry before it is written', () => {
  it('[S8] a session used just before its stored expiry stays signed in while its new expiry waits to be written', async () => {
    const t = await startServer({ sessionIdleMs: 20_000 }) // slid at most every 2 s
    try {
      const users = await seedWorkspace(t.server)
      const api = await login(t.url, users.owner.email, users.owner.password)
      const tab = new RawClient(`${t.wsUrl}/sync/acme/index/deals?token=${api.token}`)
      await tab.opened
      await new Promise((r) => setTimeout(r, 2100))
      // The session had gone unused for almost its whole lifetime: 300 ms of it left.
      const storedExpiry = Date.now() + 300
      t.server.db.prepare('UPDATE sessions SET expires_at = ? WHERE user_id = ?').run(storedExpiry, users.owner.id)
      tab.send(awarenessMessage([{ clientID: 8, clock: 1, json: '{}' }]))
      await tab.settled()
      const usedAt = Date.now()
      await until(() => Date.now() > storedExpiry + 500, 'past the stored expiry and two session sweeps')
      expect(tab.isOpen).toBe(true)
      expect((await api.request('GET', '/api/me')).status).toBe(200)
      const { expires_at } = t.server.db.prepare('SELECT expires_at FROM sessions WHERE user_id = ?').get(users.owner.id) as {
        expires_at: number
      }
      expect(expires_at).toBeGreaterThanOrEqual(usedAt - 100 + 20_000)
      tab.close()
    } finally {
      await t.close()
    }
  })
})
