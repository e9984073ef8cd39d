/**
 * The AuthStore and ThrottleStore contracts, one suite for every implementation: SQLite on a
 * real file, PostgreSQL on a fresh database (test/helpers/pg.ts; skipped with one line when
 * no PostgreSQL is reachable, except on CI). The suite drives the stores through
 * `AuthService` and `LoginThrottle`, as the server does, and reads the stores directly where
 * a rule is the store's own (a unique e-mail, an expiry that never slides back).
 */
import { createHash, randomBytes, scryptSync } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthService } from '../server/auth/AuthService.js'
import type { AuthStore } from '../server/auth/AuthStore.js'
import { PgAuthStore } from '../server/auth/PgAuthStore.js'
import { SqliteAuthStore } from '../server/auth/SqliteAuthStore.js'
import { type AttemptStart, LoginThrottle } from '../server/limits/LoginThrottle.js'
import { PgThrottleStore } from '../server/limits/PgThrottleStore.js'
import { SqliteThrottleStore } from '../server/limits/SqliteThrottleStore.js'
import type { ThrottleStore } from '../server/limits/ThrottleStore.js'
import { openDatabase } from '../server/store/openDatabase.js'
import { skipPg, useMigratedDatabase } from './helpers/pg.js'
import { tempDir } from './helpers/server.js'

/** One pair of stores under test, on an empty database. */
interface Subject {
  store: AuthStore
  throttleStore: ThrottleStore
  /** Rows in `login_attempts`. */
  attemptRows(): Promise<number>
  /** Closes the stores and removes what the subject created. */
  close(): Promise<void>
}

const PASSWORD = 'correct horse'
const T0 = 1_700_000_000_000

/**
 * `setup` runs inside the suite's `describe`, so it may register `beforeAll`/`afterAll`
 * hooks for what its subjects share (a database), and returns how to make one subject.
 */
function authStoreContract(name: string, setup: () => () => Subject, skip = false): void {
  describe.skipIf(skip)(`AuthStore and ThrottleStore contract: ${name}`, () => {
    const make = setup()
    authContract(make)
    throttleContract(make)
  })
}

function authContract(make: () => Subject): void {
  describe('AuthStore', () => {
    let s: Subject
    let auth: AuthService
    beforeEach(() => {
      s = make()
      auth = new AuthService(s.store)
    })
    afterEach(async () => {
      vi.useRealTimers()
      await s.close()
    })

    const addUser = (email: string, extra: { workspace?: string; name?: string; role?: string } = {}) =>
      auth.addUser({ workspace: 'acme', email, password: PASSWORD, role: 'member', ...extra })

    it('[AU1] a workspace is added once; ids are checked; an empty database has none', async () => {
      expect(await auth.hasAnyWorkspace()).toBe(false)
      await auth.addWorkspace('acme', 'Acme Inc')
      expect(await auth.hasWorkspace('acme')).toBe(true)
      expect(await auth.hasWorkspace('other')).toBe(false)
      expect(await auth.hasAnyWorkspace()).toBe(true)
      await expect(auth.addWorkspace('acme')).rejects.toMatchObject({ code: 'exists', message: 'workspace "acme" already exists' })
      await expect(auth.addWorkspace('a b')).rejects.toMatchObject({ code: 'invalid' })
      expect(await s.store.addWorkspace('acme', 'again', T0)).toBe(false)
    })

    it('[AU2] users read back as added; a workspace lists its own, by name in byte order; colors go round', async () => {
      await auth.addWorkspace('acme')
      await auth.addWorkspace('other')
      const ann = await addUser('ann@acme.test', { name: 'ann', role: 'admin' })
      const bob = await addUser('bob@acme.test', { name: 'Bob' })
      const zoe = await addUser('zoe@other.test', { workspace: 'other' })
      expect(ann).toEqual({ id: ann.id, email: 'ann@acme.test', name: 'ann', role: 'admin', workspace: 'acme', color: ann.color })
      expect(ann.id).toMatch(/^u[0-9a-f]{12}$/)
      expect(zoe.name).toBe('zoe')
      expect(new Set([ann.color, bob.color, zoe.color]).size).toBe(3)
      expect(await auth.getUser(ann.id)).toEqual(ann)
      expect(await auth.getUser('nobody')).toBeNull()
      expect((await auth.listUsers('acme')).map((u) => u.name)).toEqual(['Bob', 'ann'])
      expect(await auth.listUsers('other')).toEqual([zoe])
      expect(await auth.listUsers('none')).toEqual([])
    })

    it('[AU2] an e-mail is one account whatever the case of its ASCII letters; other letters compare as written', async () => {
      await auth.addWorkspace('acme')
      const ann = await addUser('Ann@acme.test')
      await expect(addUser('aNN@ACME.test')).rejects.toMatchObject({ code: 'exists' })
      // The store's own rule, for a race past the service's check.
      const stored = (await s.store.userById(ann.id))!
      expect(await s.store.addUser({ ...stored, id: 'u-second', email: 'ANN@acme.test' }, T0)).toBe(false)
      expect((await s.store.userByEmail('ann@ACME.TEST'))?.id).toBe(ann.id)
      await addUser('Émile@acme.test')
      await addUser('émile@acme.test')
      expect(await auth.listUsers('acme')).toHaveLength(3)
    })

    it('[AU2] a user needs a known workspace, a role, an e-mail and a password of 8 characters', async () => {
      await auth.addWorkspace('acme')
      await expect(addUser('x@acme.test', { workspace: 'nope' })).rejects.toMatchObject({ code: 'not-found' })
      await expect(addUser('x@acme.test', { role: 'king' })).rejects.toMatchObject({ code: 'invalid' })
      await expect(addUser('not-an-email')).rejects.toMatchObject({ code: 'invalid' })
      await expect(auth.addUser({ workspace: 'acme', email: 'x@acme.test', password: 'short', role: 'member' })).rejects.toMatchObject({
        code: 'invalid',
      })
      expect(await auth.listUsers('acme')).toEqual([])
    })

    it('[AU3] credentials: the right password signs in (e-mail in any case), a wrong one or an unknown e-mail does not; an old hash is replaced', async () => {
      await auth.addWorkspace('acme')
      const ann = await addUser('ann@acme.test')
      expect(await auth.verifyCredentials('ANN@acme.test', PASSWORD)).toEqual(ann)
      expect(await auth.verifyCredentials('ann@acme.test', 'wrong password')).toBeNull()
      expect(await auth.verifyCredentials('nobody@acme.test', PASSWORD)).toBeNull()

      const current = (await s.store.userById(ann.id))!.passwordHash
      await s.store.replacePasswordHash(ann.id, 'not the current hash', 'scrypt$1$1$1$x$y')
      expect((await s.store.userById(ann.id))!.passwordHash).toBe(current)
      const salt = randomBytes(16)
      const old = [
        'scrypt',
        16384,
        8,
        1,
        salt.toString('base64url'),
        scryptSync(PASSWORD, salt, 32, { N: 16384 }).toString('base64url'),
      ].join('$')
      await s.store.replacePasswordHash(ann.id, current, old)
      expect(await auth.verifyCredentials('ann@acme.test', PASSWORD)).toEqual(ann)
      const upgraded = (await s.store.userById(ann.id))!.passwordHash
      expect(upgraded).toMatch(/^scrypt\$32768\$8\$1\$/)
      expect(upgraded).not.toBe(current)
    })

    it('[AU4] a session authenticates its user until it is revoked; revoking tells the listeners', async () => {
      await auth.addWorkspace('acme')
      const ann = await addUser('ann@acme.test', { name: 'Ann', role: 'owner' })
      const ended: string[] = []
      auth.onSessionEnded((id) => ended.push(id))
      const { token, sessionId, expiresAt } = await auth.createSession(ann.id)
      expect(expiresAt).toBeGreaterThan(Date.now() + auth.sessionIdleMs - 1000)
      expect(await auth.authenticate(token)).toEqual({
        userId: ann.id,
        email: ann.email,
        name: 'Ann',
        color: ann.color,
        role: 'owner',
        workspace: 'acme',
        sessionId,
      })
      for (const bad of [undefined, null, '', 'x'.repeat(201), `${token}x`]) expect(await auth.authenticate(bad)).toBeNull()
      await auth.revokeSession(sessionId)
      expect(await auth.authenticate(token)).toBeNull()
      expect(ended).toEqual([sessionId])
      expect((await s.store.sessionByToken(hash(token)))?.revokedAt).toBeGreaterThan(0)
    })

    it("[AU4] revoking a user's sessions revokes the live ones only, in one step, and returns them", async () => {
      await auth.addWorkspace('acme')
      const bob = await addUser('bob@acme.test')
      const ann = await addUser('ann@acme.test')
      const [one, two, gone] = await Promise.all([auth.createSession(bob.id), auth.createSession(bob.id), auth.createSession(bob.id)])
      const anns = await auth.createSession(ann.id)
      await auth.revokeSession(gone!.sessionId)
      const ended: string[] = []
      auth.onSessionEnded((id) => ended.push(id))
      const revoked = await auth.revokeUserSessions(bob.id)
      expect(revoked.sort()).toEqual([one!.sessionId, two!.sessionId].sort())
      expect(ended.sort()).toEqual(revoked)
      for (const { token } of [one!, two!]) expect(await auth.authenticate(token)).toBeNull()
      expect((await auth.authenticate(anns.token))?.userId).toBe(ann.id)
      expect(await auth.revokeUserSessions(bob.id)).toEqual([])
    })

    it('[AU5] a slide moves a live session to its use plus the idle time, never back, and never a revoked or expired one', async () => {
      await auth.addWorkspace('acme')
      const { id: userId } = await addUser('ann@acme.test')
      const add = (id: string, expiresAt: number) => s.store.addSession({ id, tokenHash: `hash-${id}`, userId, createdAt: T0, expiresAt })
      await add('live', T0 + 2000)
      await add('revoked', T0 + 2000)
      await add('expired', T0 + 1500)
      await s.store.revokeSession('revoked', T0 + 100)
      await s.store.revokeSession('revoked', T0 + 200)
      expect((await s.store.sessionByToken('hash-revoked'))?.revokedAt).toBe(T0 + 100)
      await s.store.slideSessions(
        [
          ['live', T0 + 1900],
          ['revoked', T0 + 1900],
          ['expired', T0 + 1600],
        ],
        1000,
      )
      const expiries = async (ids: string[]) => (await s.store.unrevokedSessions(ids)).sort((a, b) => a.id.localeCompare(b.id))
      expect(await expiries(['live', 'revoked', 'expired', 'unknown'])).toEqual([
        { id: 'expired', expiresAt: T0 + 1500 },
        { id: 'live', expiresAt: T0 + 2900 },
      ])
      // A use written late, after a later one (another process), leaves the later expiry.
      await s.store.slideSessions([['live', T0 + 1000]], 1000)
      expect(await expiries(['live'])).toEqual([{ id: 'live', expiresAt: T0 + 2900 }])
      expect(await s.store.unrevokedSessions([])).toEqual([])
      await s.store.slideSessions([], 1000)
      expect(await s.store.sessionByToken('hash-live')).toMatchObject({ sessionId: 'live', expiresAt: T0 + 2900, revokedAt: null })
      expect((await s.store.sessionByToken('hash-live'))?.user.id).toBe(userId)
    })

    it('[AU6] sliding expiry: a use counts before it is written; the uses are written together; the sweep finds expired and revoked sessions', async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(T0)
      const sliding = new AuthService(s.store, { sessionIdleMs: 10_000 })
      await sliding.addWorkspace('acme')
      const users = await Promise.all(
        ['a', 'b', 'c', 'd'].map((n) =>
          sliding.addUser({ workspace: 'acme', email: `${n}@acme.test`, password: PASSWORD, role: 'member' }),
        ),
      )
      const [a, b, c, d] = await Promise.all(users.map((u) => sliding.createSession(u.id)))
      vi.setSystemTime(T0 + 5000)
      for (const session of [a!, c!, d!]) expect(await sliding.authenticate(session.token)).not.toBeNull()
      vi.setSystemTime(T0 + 12_000)
      // Stored: T0 + 10000 for all. Used at T0 + 5000 and not written yet: still live. A use
      // while one waits to be written does not replace it.
      expect(await sliding.authenticate(a!.token)).not.toBeNull()
      expect(await sliding.authenticate(b!.token)).toBeNull()
      await sliding.revokeSession(d!.sessionId)
      const live = await sliding.liveSessions([a!, b!, c!, d!].map((x) => x.sessionId))
      expect([...live].sort()).toEqual([a!.sessionId, c!.sessionId].sort())
      const expiries = async () => new Map((await s.store.unrevokedSessions([a!.sessionId, c!.sessionId])).map((x) => [x.id, x.expiresAt]))
      expect(await expiries()).toEqual(
        new Map([
          [a!.sessionId, T0 + 15_000],
          [c!.sessionId, T0 + 15_000],
        ]),
      )
      // Written, so the next use is taken.
      vi.setSystemTime(T0 + 13_000)
      expect(await sliding.authenticate(a!.token)).not.toBeNull()
      vi.setSystemTime(T0 + 15_001)
      expect([...(await sliding.liveSessions([a!.sessionId, c!.sessionId]))]).toEqual([a!.sessionId])
      expect((await expiries()).get(a!.sessionId)).toBe(T0 + 23_000)
      expect(await sliding.liveSessions([])).toEqual(new Set())
    })

    it('[AU7] a user named in a notice is named from what the service has seen: every user of a workspace someone authenticated in', async () => {
      await auth.addWorkspace('acme')
      const ann = await addUser('ann@acme.test', { name: 'Ann' })
      const { token } = await auth.createSession(ann.id)
      const bob = await addUser('bob@acme.test', { name: 'Bob' })
      const fresh = new AuthService(s.store)
      await fresh.authenticate(token)
      expect(fresh.userName(ann.id)).toBe('Ann')
      expect(fresh.userName(bob.id)).toBe('Bob')
      // A user the service has not seen is looked up for the next time.
      const carl = await addUser('carl@acme.test', { name: 'Carl' })
      expect(fresh.userName(carl.id)).toBe(carl.id)
      await vi.waitFor(() => expect(fresh.userName(carl.id)).toBe('Carl'))
    })

    it('[AU8] a role is set; a deactivated user is refused at sign-in and by every session; live sessions are listed and found by id', async () => {
      await auth.addWorkspace('acme')
      const ann = await addUser('ann@acme.test')
      expect(await s.store.setRole(ann.id, 'viewer')).toBe('changed')
      expect(await s.store.setRole('nobody', 'viewer')).toBe('no-user')
      expect((await s.store.userById(ann.id))?.role).toBe('viewer')
      expect((await s.store.userById(ann.id))?.deactivatedAt).toBeNull()

      const first = await auth.createSession(ann.id)
      const second = await auth.createSession(ann.id)
      const listed = await s.store.sessionsOf(ann.id, Date.now())
      expect(listed.map((x) => x.id).sort()).toEqual([first.sessionId, second.sessionId].sort())
      expect(listed[0]).toMatchObject({ userId: ann.id, expiresAt: expect.any(Number), createdAt: expect.any(Number) })
      // Expired by its stored time, or revoked: not listed; still found by id.
      // (The second session may expire a millisecond after the first: it was made after it.)
      expect(await s.store.sessionsOf(ann.id, Math.max(first.expiresAt, second.expiresAt) + 1)).toEqual([])
      await auth.revokeSession(first.sessionId)
      expect((await s.store.sessionsOf(ann.id, Date.now())).map((x) => x.id)).toEqual([second.sessionId])
      expect((await s.store.sessionById(first.sessionId))?.userId).toBe(ann.id)
      expect(await s.store.sessionById('none')).toBeUndefined()

      expect(await s.store.deactivateUser(ann.id, T0)).toBe('deactivated')
      expect(await s.store.deactivateUser(ann.id, T0 + 1)).toBe('already')
      expect(await s.store.deactivateUser('nobody', T0)).toBe('no-user')
      expect((await s.store.userById(ann.id))?.deactivatedAt).toBe(T0)
      expect((await s.store.usersOf('acme'))[0]?.deactivatedAt).toBe(T0)
      expect(await auth.authenticate(second.token)).toBeNull()
      expect(await auth.verifyCredentials('ann@acme.test', PASSWORD)).toBeNull()
    })

    it('[AU9] the last active owner keeps the role and stays active, even when two changes race', async () => {
      await auth.addWorkspace('acme')
      await auth.addWorkspace('other')
      const ann = await addUser('ann@acme.test', { role: 'owner' })
      const bob = await addUser('bob@acme.test', { role: 'owner' })
      await addUser('zoe@other.test', { workspace: 'other', role: 'owner' })
      // Both demoted at once: one change wins, the other finds it the last owner.
      const outcomes = await Promise.all([s.store.setRole(ann.id, 'admin'), s.store.setRole(bob.id, 'member')])
      expect(outcomes.sort()).toEqual(['changed', 'last-owner'])
      const owner = (await s.store.usersOf('acme')).find((u) => u.role === 'owner')!
      expect(await s.store.deactivateUser(owner.id, T0)).toBe('last-owner')
      expect(await s.store.setRole(owner.id, 'owner')).toBe('changed')
      const other = owner.id === ann.id ? bob : ann
      expect(await s.store.setRole(other.id, 'owner')).toBe('changed')
      // With a second active owner, either may go; a deactivated owner counts for nothing.
      expect(await s.store.deactivateUser(owner.id, T0)).toBe('deactivated')
      expect(await s.store.setRole(other.id, 'viewer')).toBe('last-owner')
      expect(await s.store.setRole(owner.id, 'viewer')).toBe('changed')
    })

    /** The principal of a new owner of acme, as an admin request has it. */
    const ownerPrincipal = async () => {
      await auth.addWorkspace('acme', 'Acme Inc')
      const ann = await addUser('ann@acme.test', { role: 'owner' })
      const session = await auth.createSession(ann.id)
      return (await auth.authenticate(session.token))!
    }

    it('[AU10] an invite is kept by its token hash only, answers its workspace and role, and is gone 7 days later', async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(T0)
      const admin = await ownerPrincipal()
      const invite = await auth.createInvite(admin, { role: 'admin' })
      expect(invite).toMatchObject({
        workspace: { id: 'acme', name: 'Acme Inc' },
        role: 'admin',
        email: null,
        expiresAt: T0 + 7 * 86_400_000,
      })
      expect(await s.store.inviteByToken(invite.token)).toBeUndefined()
      expect((await s.store.inviteByToken(createHash('sha256').update(invite.token).digest('hex')))?.usedAt).toBeNull()
      vi.setSystemTime(T0 + 7 * 86_400_000 - 1)
      expect((await auth.invite(invite.token)).role).toBe('admin')
      vi.setSystemTime(T0 + 7 * 86_400_000)
      await expect(auth.invite(invite.token)).rejects.toMatchObject({ code: 'gone' })
      await expect(auth.acceptInvite(invite.token, { password: PASSWORD, email: 'late@acme.test' })).rejects.toMatchObject({ code: 'gone' })
      await expect(auth.invite('no-such-token')).rejects.toMatchObject({ code: 'not-found' })
      expect(await s.store.userByEmail('late@acme.test')).toBeUndefined()
    })

    it('[AU11] an invite adds one user however many accept it at once; a taken e-mail writes nothing', async () => {
      const admin = await ownerPrincipal()
      const invite = await auth.createInvite(admin, { role: 'member' })
      const tries = await Promise.allSettled(
        ['one@acme.test', 'two@acme.test', 'three@acme.test'].map((email) =>
          auth.acceptInvite(invite.token, { password: PASSWORD, email }),
        ),
      )
      expect(tries.filter((t) => t.status === 'fulfilled')).toHaveLength(1)
      for (const t of tries) if (t.status === 'rejected') expect(t.reason).toMatchObject({ code: 'gone' })
      expect((await s.store.usersOf('acme')).map((u) => u.role).sort()).toEqual(['member', 'owner'])

      const next = await auth.createInvite(admin, { role: 'viewer' })
      const found = (await s.store.inviteByToken(createHash('sha256').update(next.token).digest('hex')))!
      const taken = { ...(await s.store.userByEmail('ann@acme.test'))!, id: 'u-new', email: 'ANN@acme.test' }
      expect(await s.store.acceptInvite(found.id, taken, Date.now())).toBe('exists')
      // Nothing written: the invite is still there to accept.
      expect((await auth.invite(next.token)).role).toBe('viewer')
      expect((await auth.acceptInvite(next.token, { name: 'Vic', password: PASSWORD, email: 'vic@acme.test' })).role).toBe('viewer')
      expect(await s.store.acceptInvite(found.id, { ...taken, id: 'u-other', email: 'other@acme.test' }, Date.now())).toBe('gone')
    })
  })
}

function throttleContract(make: () => Subject): void {
  describe('ThrottleStore', () => {
    let s: Subject
    beforeEach(() => {
      s = make()
    })
    afterEach(() => s.close())

    const throttleOf = (now: () => number) =>
      new LoginThrottle(s.throttleStore, { attemptsPerAccount: 2, attemptsPerAddress: 5, windowMs: 1000, now })
    const fail = async (throttle: LoginThrottle, email: string, address: string) =>
      expect((await throttle.start(email, address)).ok).toBe(true)
    const waitOf = (start: AttemptStart) => (start.ok ? 0 : start.retryAfterMs)

    it('[TH1] counts an attempt when it starts, against the account whatever the address, until the window ends', async () => {
      let now = 0
      const throttle = throttleOf(() => now)
      await fail(throttle, 'A@x.test', '1.1.1.1')
      await fail(throttle, 'a@x.test ', '2.2.2.2')
      expect(waitOf(await throttle.start('a@x.test', '3.3.3.3'))).toBe(1000)
      now = 999
      expect(waitOf(await throttle.start('a@x.test', '3.3.3.3'))).toBe(1)
      now = 1000
      expect((await throttle.start('a@x.test', '3.3.3.3')).ok).toBe(true)
    })

    it('[TH2] limits an address across accounts; a refused attempt counts nowhere', async () => {
      const throttle = throttleOf(() => 0)
      for (let i = 0; i < 5; i++) await fail(throttle, `u${i}@x.test`, '1.1.1.1')
      expect(waitOf(await throttle.start('new@x.test', '1.1.1.1'))).toBeGreaterThan(0)
      expect((await throttle.start('new@x.test', '9.9.9.9')).ok).toBe(true)
      expect((await throttle.start('new@x.test', '9.9.9.8')).ok).toBe(true)
    })

    it('[TH3] a success takes back its own attempt from the account and the address, not the failures before it', async () => {
      const throttle = throttleOf(() => 0)
      await fail(throttle, 'b@x.test', '9.9.9.9')
      for (let i = 0; i < 3; i++) {
        const started = await throttle.start('b@x.test', '9.9.9.9')
        if (!started.ok) throw new Error('refused')
        await throttle.succeeded(started.attempt)
      }
      await fail(throttle, 'b@x.test', '9.9.9.9')
      expect((await throttle.start('b@x.test', '8.8.8.8')).ok).toBe(false)
      for (let i = 0; i < 3; i++) await fail(throttle, `c${i}@x.test`, '9.9.9.9')
      expect((await throttle.start('d@x.test', '9.9.9.9')).ok).toBe(false)
    })

    it('[TH3] a refund after its window ended takes nothing from the next window', async () => {
      let now = 0
      const throttle = throttleOf(() => now)
      const started = await throttle.start('e@x.test', '7.7.7.7')
      if (!started.ok) throw new Error('refused')
      now = 1500
      await fail(throttle, 'e@x.test', '7.7.7.7')
      await fail(throttle, 'e@x.test', '7.7.7.7')
      await throttle.succeeded(started.attempt)
      expect(waitOf(await throttle.start('e@x.test', '7.7.7.7'))).toBe(1000)
    })

    it('[TH4] deletes the rows of ended windows as attempts come in', async () => {
      let now = 0
      const throttle = throttleOf(() => now)
      for (let i = 0; i < 100; i++) await throttle.start(`u${i}@x.test`, `a${i}`)
      expect(await s.attemptRows()).toBe(200)
      now = 1000
      await throttle.start('late@x.test', 'z')
      expect(await s.attemptRows()).toBe(2)
    })

    it('[TH5] attempts started at once never pass the limit', async () => {
      const throttle = throttleOf(() => 0)
      const starts = await Promise.all(Array.from({ length: 20 }, (_, i) => throttle.start('f@x.test', `6.6.6.${i % 2}`)))
      expect(starts.filter((start) => start.ok)).toHaveLength(2)
    })
  })
}

/** The token hash the stores keep. */
const hash = (token: string) => createHash('sha256').update(token).digest('hex')

authStoreContract('SQLite', () => () => {
  const dir = tempDir('accord-auth-')
  const db = openDatabase(join(dir, 'auth.db'))
  return {
    store: new SqliteAuthStore(db),
    throttleStore: new SqliteThrottleStore(db),
    async attemptRows() {
      return (db.prepare('SELECT COUNT(*) AS n FROM login_attempts').get() as { n: number }).n
    },
    async close() {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

authStoreContract(
  'PostgreSQL',
  () => {
    const database = useMigratedDatabase()
    return () => ({
      store: new PgAuthStore(database.pool),
      throttleStore: new PgThrottleStore(database.pool),
      async attemptRows() {
        return (await database.pool.query<{ n: number }>('SELECT count(*)::integer AS n FROM login_attempts')).rows[0]!.n
      },
      async close() {
        await database.pool.query('TRUNCATE invites, sessions, users, workspaces, login_attempts')
      },
    })
  },
  skipPg,
)
