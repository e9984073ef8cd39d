/**
 * Sessions and the sign-in throttle on PostgreSQL, shared by several processes: each
 * "process" here has a pool of its own on one fresh database (test/helpers/pg.ts; skipped
 * with one line when no PostgreSQL is reachable, except on CI).
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { AccordServer, type AccordOptions } from '../server/AccordServer.js'
import { AuthService } from '../server/auth/AuthService.js'
import { PgAuthStore } from '../server/auth/PgAuthStore.js'
import { LoginThrottle } from '../server/limits/LoginThrottle.js'
import { PgThrottleStore } from '../server/limits/PgThrottleStore.js'
import { migrate } from '../server/pg/migrate.js'
import { type Pool, openPool } from '../server/pg/openPool.js'
import { runCli } from './helpers/child.js'
import { skipPg, useFreshDatabase } from './helpers/pg.js'
import { login, provider, seedWorkspace, signInStatus, synced, tempDir } from './helpers/server.js'

/** Two pools on the database of the enclosing `describe`, migrated: two processes. */
function useTwoProcesses(): { readonly pools: readonly [Pool, Pool] } {
  const database = useFreshDatabase()
  let pools: [Pool, Pool] | undefined
  beforeAll(async () => {
    pools = [await openPool(database.url, { max: 5 }), await openPool(database.url, { max: 5 })]
    await migrate(pools[0])
  })
  afterAll(async () => {
    for (const pool of pools ?? []) await pool.end()
  })
  return {
    get pools() {
      if (!pools) throw new Error('the pools exist only inside tests and hooks')
      return pools
    },
  }
}

describe.skipIf(skipPg)('the sign-in throttle shared by two processes', () => {
  const processes = useTwoProcesses()
  const throttles = (limits: { account: number; address: number }) =>
    processes.pools.map(
      (pool) =>
        new LoginThrottle(new PgThrottleStore(pool), {
          attemptsPerAccount: limits.account,
          attemptsPerAddress: limits.address,
          windowMs: 60_000,
        }),
    ) as [LoginThrottle, LoginThrottle]
  const okCount = (starts: { ok: boolean }[]) => starts.filter((start) => start.ok).length

  it('[PGA1] two processes racing for the last attempt of an account: exactly one gets it, every time', async () => {
    const [a, b] = throttles({ account: 3, address: 1000 })
    for (let round = 0; round < 20; round++) {
      const email = `last${round}@x.test`
      for (let i = 0; i < 2; i++) expect((await a.start(email, '10.0.0.1')).ok).toBe(true)
      const raced = await Promise.all([a.start(email, '10.0.0.2'), b.start(email, '10.0.0.3')])
      expect(okCount(raced)).toBe(1)
    }
  })

  it('[PGA1] 40 attempts at once from two processes, per account and per address: exactly the limit goes through', async () => {
    const [a, b] = throttles({ account: 5, address: 7 })
    for (let round = 0; round < 3; round++) {
      const byAccount = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).start(`crowd${round}@x.test`, `10.1.${round}.${i}`)),
      )
      expect(okCount(byAccount)).toBe(5)
      const byAddress = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).start(`one${round}-${i}@x.test`, `10.2.0.${round}`)),
      )
      expect(okCount(byAddress)).toBe(7)
    }
  })

  it('[PGA2] failures counted by one process refuse the next attempt in the other at once; a success there is refunded for both', async () => {
    const [a, b] = throttles({ account: 3, address: 1000 })
    const email = 'shared@x.test'
    const first = await a.start(email, '10.3.0.1')
    for (let i = 0; i < 2; i++) expect((await a.start(email, '10.3.0.1')).ok).toBe(true)
    expect((await b.start(email, '10.3.0.2')).ok).toBe(false)
    if (!first.ok) throw new Error('refused')
    await b.succeeded(first.attempt)
    expect((await a.start(email, '10.3.0.1')).ok).toBe(true)
    expect((await b.start(email, '10.3.0.2')).ok).toBe(false)
  })
})

describe.skipIf(skipPg)('sessions shared by two processes', () => {
  const processes = useTwoProcesses()

  it('[PGA2] a user added by one process signs in at the other; a revocation by either is seen by the other at its next lookup', async () => {
    const [a, b] = processes.pools.map((pool) => new AuthService(new PgAuthStore(pool))) as [AuthService, AuthService]
    await a.addWorkspace('acme')
    const ann = await a.addUser({ workspace: 'acme', email: 'ann@acme.test', password: 'correct horse', role: 'owner', name: 'Ann' })
    expect(await b.verifyCredentials('ann@acme.test', 'correct horse')).toEqual(ann)
    await expect(b.addUser({ workspace: 'acme', email: 'ANN@acme.test', password: 'correct horse', role: 'member' })).rejects.toMatchObject(
      { code: 'exists' },
    )

    const session = await a.createSession(ann.id)
    expect((await b.authenticate(session.token))?.userId).toBe(ann.id)
    expect(b.userName(ann.id)).toBe('Ann')
    await a.revokeSession(session.sessionId)
    expect(await b.authenticate(session.token)).toBeNull()
    expect(await b.liveSessions([session.sessionId])).toEqual(new Set())

    const [one, two] = await Promise.all([b.createSession(ann.id), b.createSession(ann.id)])
    expect((await a.authenticate(one!.token))?.sessionId).toBe(one!.sessionId)
    expect((await a.revokeUserSessions(ann.id)).sort()).toEqual([one!.sessionId, two!.sessionId].sort())
    expect(await b.authenticate(two!.token)).toBeNull()
    expect(await b.revokeUserSessions(ann.id)).toEqual([])
  })

  it('[PGA2] two processes sliding the same sessions at once both commit, and the later use wins', async () => {
    const [a, b] = processes.pools.map((pool) => new PgAuthStore(pool)) as [PgAuthStore, PgAuthStore]
    await a.addWorkspace('slide', 'Slide', 0)
    const user = {
      id: 'u-slide',
      workspace: 'slide',
      email: 'slide@x.test',
      name: 'Slide',
      role: 'member',
      passwordHash: 'x',
      color: '#000',
    } as const
    expect(await a.addUser(user, 0)).toBe(true)
    const ids = Array.from({ length: 20 }, (_, i) => `slide-${i}`)
    for (const id of ids) await a.addSession({ id, tokenHash: `hash-${id}`, userId: user.id, createdAt: 0, expiresAt: 10_000 })
    // Opposite orders, and the earlier use may commit last: neither waits forever, and no expiry goes back.
    await Promise.all([
      a.slideSessions(
        ids.map((id) => [id, 1000]),
        10_000,
      ),
      b.slideSessions(
        [...ids].reverse().map((id) => [id, 2000]),
        10_000,
      ),
    ])
    expect((await a.unrevokedSessions(ids)).map((s) => s.expiresAt)).toEqual(ids.map(() => 12_000))
  })
})

/** An Accord server on PostgreSQL, started on a free port. */
async function startPgServer(
  databaseUrl: string,
  options: AccordOptions = {},
): Promise<{ server: AccordServer; url: string; wsUrl: string }> {
  const server = await AccordServer.open({
    databaseUrl,
    port: 0,
    clientDir: join(tempDir(), 'no-client'),
    registry: { unloadGraceMs: 100 },
    ...options,
  })
  const url = await server.start()
  return { server, url, wsUrl: url.replace(/^http/, 'ws') }
}

describe.skipIf(skipPg)('two Accord servers on one PostgreSQL database', () => {
  const database = useFreshDatabase()
  const limits = { LOGIN_FAILURES_PER_ACCOUNT: 3 }
  let servers: Awaited<ReturnType<typeof startPgServer>>[] = []
  beforeAll(async () => {
    servers = [await startPgServer(database.url, { limits }), await startPgServer(database.url, { limits })]
  })
  afterAll(async () => {
    for (const { server } of servers) await server.close()
  })

  it('[PGA3] a sign-in at one serves the other; a logout at one closes the socket at the other with 4401 within a sweep; failures count for both', async () => {
    const [a, b] = servers as [(typeof servers)[number], (typeof servers)[number]]
    const users = await seedWorkspace(a.server)
    const owner = await login(b.url, users.owner.email, users.owner.password)
    const member = await login(a.url, users.member.email, users.member.password)
    expect((await member.request('GET', '/api/users')).body.items).toHaveLength(4)

    const tab: WebsocketProvider = provider(b.wsUrl, 'acme/index/deals', owner.token)
    await synced(tab)
    const closed = new Promise<number>((resolve) => tab.on('connection-close', (event) => event && resolve(event.code)))
    const meAtA = await fetch(`${a.url}/api/me`, { headers: { authorization: `Bearer ${owner.token}` } })
    expect(((await meAtA.json()) as { id: string }).id).toBe(users.owner.id)
    const started = Date.now()
    const logout = await fetch(`${a.url}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` } })
    expect(logout.status).toBe(204)
    expect((await fetch(`${b.url}/api/me`, { headers: { authorization: `Bearer ${owner.token}` } })).status).toBe(401)
    expect(await closed).toBe(4401)
    expect(Date.now() - started).toBeLessThan(1000)
    tab.destroy()

    for (let i = 0; i < limits.LOGIN_FAILURES_PER_ACCOUNT; i++)
      expect(await signInStatus(a.url, users.viewer.email, 'wrong password')).toBe(401)
    expect(await signInStatus(b.url, users.viewer.email, users.viewer.password)).toBe(429)
  })

  it('[PGA4] workspaces, users, sessions and attempts are in PostgreSQL, and no SQLite database is opened', async () => {
    for (const { server } of servers) {
      expect(server.backend.db).toBeNull()
      for (const table of ['workspaces', 'users', 'sessions', 'login_attempts']) {
        const { rows } = await server.backend.pool!.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${table}`)
        expect(rows[0]!.n, table).toBeGreaterThan(0)
      }
    }
  })
})

describe.skipIf(skipPg)('accord workspace add and user add on PostgreSQL', () => {
  const database = useFreshDatabase()

  it('[PGA5] add to a new database with --database-url or ACCORD_DATABASE_URL (migrating it first), without a server; errors are one line', async () => {
    const url = database.url
    const userArgs = (email: string, role = 'member') => [
      'user',
      'add',
      '--workspace',
      'sales',
      '--email',
      email,
      '--password',
      'password1',
      '--role',
      role,
    ]
    expect(runCli(['workspace', 'add', 'sales', '--name', 'Sales', '--database-url', url])).toMatchObject({
      status: 0,
      stdout: 'workspace sales added\n',
    })
    const ann = runCli([...userArgs('ann@sales.test', 'admin'), '--database-url', url])
    expect(ann.status).toBe(0)
    expect(ann.stdout).toMatch(/^user ann@sales.test \(admin\) added to sales as u[0-9a-f]{12}\n$/)
    expect(runCli(userArgs('bob@sales.test'), { ACCORD_DATABASE_URL: url }).status).toBe(0)

    const oneLine = (result: ReturnType<typeof runCli>, pattern: RegExp) => {
      expect(result.status).not.toBe(0)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(pattern)
    }
    oneLine(runCli([...userArgs('ANN@sales.test'), '--database-url', url]), /a user with e-mail ANN@sales.test already exists/)
    oneLine(runCli(['workspace', 'add', 'sales', '--database-url', url]), /workspace "sales" already exists/)
    oneLine(runCli([...userArgs('x@sales.test'), '--database-url', url, '--db', join(tempDir(), 'a.db')]), /--db and --database-url/)
    oneLine(runCli([...userArgs('x@sales.test'), '--database-url', 'postgres://postgres@127.0.0.1:1/none']), /cannot connect to PostgreSQL/)

    const pool = await openPool(url, { max: 1 })
    try {
      const auth = new AuthService(new PgAuthStore(pool))
      expect((await auth.listUsers('sales')).map((u) => [u.email, u.role])).toEqual([
        ['ann@sales.test', 'admin'],
        ['bob@sales.test', 'member'],
      ])
      expect(await auth.verifyCredentials('ann@sales.test', 'password1')).not.toBeNull()
    } finally {
      await pool.end()
    }
  })
})
