/**
 * Workspaces, users and sessions: the rules, over an `AuthStore` (SQLite or PostgreSQL).
 * Tokens are opaque random strings; only their SHA-256 is stored. Sessions expire after a
 * sliding idle period.
 */
import { createHash, randomBytes } from 'node:crypto'
import { isValidId } from '../../shared/docNames.js'
import type { AuthStore, NewUser, SessionInfo, StoredInvite, StoredUser } from './AuthStore.js'
import type { Principal, Role } from './types.js'
import { DUMMY_HASH_PROMISE, hashPassword, isOutdated, verifyPassword } from './passwords.js'

export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const satisfies readonly Role[]

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#469990', '#9a6324', '#800000']

export interface PublicUser {
  id: string
  email: string
  name: string
  role: Role
  workspace: string
  color: string
}

/** A user as the admin console lists it. */
export interface AdminUser extends PublicUser {
  deactivatedAt: number | null
}

/** How long an invite link can be accepted. */
export const INVITE_TTL_MS = 7 * 24 * 3600 * 1000

/** An invite as its link shows it, before it is accepted (no token, no creator). */
export interface InviteInfo {
  workspace: { id: string; name: string }
  role: Role
  email: string | null
  expiresAt: number
}

/** A new invite: the token is shown this once (its link); only its hash is kept. */
export interface CreatedInvite extends InviteInfo {
  token: string
  path: string
}

/** A failure the caller shows as is (CLI line, HTTP error). */
export class AuthError extends Error {
  constructor(
    readonly code: 'exists' | 'not-found' | 'invalid' | 'forbidden' | 'conflict' | 'gone',
    message: string,
  ) {
    super(message)
  }
}

export interface AuthOptions {
  /** How long a session lives without use. @default 7 days */
  sessionIdleMs?: number
  /** Told when a deferred write (sessions' new expiries) fails. */
  onError?: (error: unknown, context: string) => void
}

/** Called when a session is revoked (logout, password change, removal), with its id. */
export type SessionEndedListener = (sessionId: string) => void

export class AuthService {
  readonly sessionIdleMs: number
  private readonly lastTouched = new Map<string, number>()
  /** Sessions used whose new expiry is not written yet, with when they were used. */
  private dueTouches = new Map<string, number>()
  /** Uses taken from `dueTouches` whose write has not finished: `expiryOf` still counts them. */
  private readonly writingTouches = new Set<Map<string, number>>()
  /** The last write of uses; the next one starts after it (see `writePendingTouches`). Never rejects. */
  private lastWrite: Promise<void> = Promise.resolve()
  private touchTimer: NodeJS.Timeout | null = null
  private readonly endedListeners = new Set<SessionEndedListener>()
  /**
   * Users' names by id, for `userName`. A user's name never changes, so an entry never goes
   * stale. Each workspace's users are loaded when the first of them authenticates here.
   */
  private readonly names = new Map<string, string>()
  private readonly namesLoaded = new Map<string, Promise<void>>()
  private readonly namesLooked = new Set<string>()
  /** Each workspace's user ids seen here, kept as `names` is (a mention in the notes is checked against them). */
  private readonly members = new Map<string, Set<string>>()

  constructor(
    private readonly store: AuthStore,
    private readonly options: AuthOptions = {},
  ) {
    this.sessionIdleMs = options.sessionIdleMs ?? 7 * 24 * 3600 * 1000
  }

  /** How often a session in use has its expiry slid forward: a tenth of the idle lifetime, at least every minute. */
  private get touchEveryMs(): number {
    return Math.min(60_000, this.sessionIdleMs / 10)
  }

  async addWorkspace(id: string, name = id): Promise<void> {
    if (!isValidId(id)) throw new AuthError('invalid', `workspace id "${id}" must be 1-64 letters, digits, "-" or "_"`)
    if (!(await this.store.addWorkspace(id, name, Date.now()))) throw new AuthError('exists', `workspace "${id}" already exists`)
  }

  hasWorkspace(id: string): Promise<boolean> {
    return this.store.hasWorkspace(id)
  }

  /** A workspace's name; null when there is no such workspace. */
  workspaceName(id: string): Promise<string | null> {
    return this.store.workspaceName(id)
  }

  /** Whether any workspace exists: a database without one is new (the demo may seed it). */
  hasAnyWorkspace(): Promise<boolean> {
    return this.store.hasAnyWorkspace()
  }

  async addUser(input: { workspace: string; email: string; password: string; role: string; name?: string }): Promise<PublicUser> {
    if (!isRole(input.role)) throw new AuthError('invalid', `role must be one of ${ROLES.join(', ')}, not "${input.role}"`)
    if (!(await this.store.hasWorkspace(input.workspace))) throw new AuthError('not-found', `no workspace "${input.workspace}"`)
    const user = await this.newUser({ ...input, role: input.role })
    if (!(await this.store.addUser(user, Date.now()))) throw emailTaken(input.email)
    return this.toPublic(user)
  }

  /** A user to add, its e-mail and password checked (the e-mail not taken yet) and hashed. */
  private async newUser(input: { workspace: string; email: string; password: string; role: Role; name?: string }): Promise<NewUser> {
    if (!/^[^\s@]+@[^\s@]+$/.test(input.email)) throw new AuthError('invalid', `"${input.email}" is not an e-mail address`)
    if (input.password.length < 8) throw new AuthError('invalid', 'the password must have at least 8 characters')
    if (await this.store.userByEmail(input.email)) throw emailTaken(input.email)
    const passwordHash = await hashPassword(input.password)
    const count = await this.store.userCount()
    return {
      id: `u${randomBytes(6).toString('hex')}`,
      email: input.email,
      name: input.name?.trim() || input.email.split('@')[0]!,
      role: input.role,
      workspace: input.workspace,
      color: COLORS[count % COLORS.length]!,
      passwordHash,
    }
  }

  /**
   * Creates a one-time invite link to the admin's workspace with `role` (only an owner invites
   * an owner), for a fixed e-mail or, without one, for whoever opens it first.
   */
  async createInvite(admin: Principal, input: { role: string; email?: string }): Promise<CreatedInvite> {
    if (!isRole(input.role)) throw new AuthError('invalid', `role must be one of ${ROLES.join(', ')}, not "${input.role}"`)
    if (input.role === 'owner' && admin.role !== 'owner') throw new AuthError('forbidden', 'only an owner can invite an owner')
    const email = input.email?.trim() || null
    if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) throw new AuthError('invalid', `"${email}" is not an e-mail address`)
    if (email !== null && (await this.store.userByEmail(email))) throw emailTaken(email)
    const token = randomBytes(32).toString('base64url')
    const createdAt = Date.now()
    const invite = {
      id: randomBytes(9).toString('base64url'),
      tokenHash: hashToken(token),
      workspace: admin.workspace,
      role: input.role,
      email,
      createdBy: admin.userId,
      createdAt,
      expiresAt: createdAt + INVITE_TTL_MS,
    }
    await this.store.addInvite(invite)
    const found = await this.liveInvite(token)
    return { ...inviteInfo(found), token, path: `/invite/${token}` }
  }

  /** What an invite link offers; `gone` (410) once used or expired, `not-found` for a token that never was one. */
  async invite(token: string): Promise<InviteInfo> {
    return inviteInfo(await this.liveInvite(token))
  }

  /**
   * Accepts an invite: adds the user (with the invite's e-mail when it fixes one) and marks
   * the invite used, in one transaction, so a link adds one user however many accept it at once.
   */
  async acceptInvite(token: string, input: { name?: string; password: string; email?: string }): Promise<PublicUser> {
    const invite = await this.liveInvite(token)
    const email = invite.email ?? input.email?.trim()
    if (!email) throw new AuthError('invalid', 'an e-mail address is required')
    if (invite.email !== null && input.email !== undefined && input.email.trim().toLowerCase() !== invite.email.toLowerCase())
      throw new AuthError('invalid', `this invite is for ${invite.email}`)
    const user = await this.newUser({ workspace: invite.workspace, email, password: input.password, role: invite.role, name: input.name })
    const outcome = await this.store.acceptInvite(invite.id, user, Date.now())
    if (outcome === 'gone') throw inviteGone()
    if (outcome === 'exists') throw emailTaken(email)
    return this.toPublic(user)
  }

  private async liveInvite(token: string): Promise<StoredInvite> {
    const invite = token.length <= 200 ? await this.store.inviteByToken(hashToken(token)) : undefined
    if (!invite) throw new AuthError('not-found', 'no such invite')
    if (invite.usedAt !== null || invite.expiresAt <= Date.now()) throw inviteGone()
    return invite
  }

  async listUsers(workspace: string): Promise<PublicUser[]> {
    return (await this.store.usersOf(workspace)).map((user) => this.toPublic(user))
  }

  async getUser(id: string): Promise<PublicUser | null> {
    const user = await this.store.userById(id)
    return user ? this.toPublic(user) : null
  }

  /**
   * A user's name, at once, for what is built where nothing can wait (the overwrite notices
   * of a commit): from the names this service has seen, which include every user of each
   * workspace someone authenticated in here. A user added since by another process is named
   * by id this once, and looked up for the next time.
   */
  userName(id: string): string {
    const name = this.names.get(id)
    if (name !== undefined) return name
    if (!this.namesLooked.has(id)) {
      this.namesLooked.add(id)
      void this.getUser(id)
        .catch(() => null)
        .finally(() => this.namesLooked.delete(id))
    }
    return id
  }

  /**
   * The ids of a workspace's users: loaded once, then kept current with every user this
   * service reads or adds (the set returned is live). A user added by another process since
   * is missing until this one reads them.
   */
  async workspaceUsers(workspace: string): Promise<ReadonlySet<string>> {
    await this.knowWorkspace(workspace)
    return this.membersOf(workspace)
  }

  private membersOf(workspace: string): Set<string> {
    let ids = this.members.get(workspace)
    if (!ids) this.members.set(workspace, (ids = new Set()))
    return ids
  }

  /** Loads the names of a workspace's users once; a failed load is tried again at the next call. */
  private knowWorkspace(workspace: string): Promise<void> {
    let loaded = this.namesLoaded.get(workspace)
    if (!loaded) {
      loaded = this.listUsers(workspace).then(
        () => {},
        () => {
          this.namesLoaded.delete(workspace)
        },
      )
      this.namesLoaded.set(workspace, loaded)
    }
    return loaded
  }

  /** Checks credentials. Unknown e-mail and wrong password take the same time and give the same answer. */
  async verifyCredentials(email: string, password: string): Promise<PublicUser | null> {
    const user = await this.store.userByEmail(email)
    const ok = await checkPassword(password, user?.passwordHash)
    // A deactivated account is refused as a wrong password is: after the same work, with the same answer.
    if (!user || !ok || user.deactivatedAt !== null) return null
    if (isOutdated(user.passwordHash)) await this.rehash(user, password)
    return this.toPublic(user)
  }

  /**
   * Replaces a hash made with older parameters, now that the password is known to match. It
   * is only an upgrade: if it fails, the old hash stays and still verifies.
   */
  private async rehash(user: StoredUser, password: string): Promise<void> {
    try {
      await this.store.replacePasswordHash(user.id, user.passwordHash, await hashPassword(password))
    } catch {
      // Keep the old hash.
    }
  }

  async createSession(userId: string): Promise<{ token: string; sessionId: string; expiresAt: number }> {
    const token = randomBytes(32).toString('base64url')
    const sessionId = randomBytes(9).toString('base64url')
    const now = Date.now()
    const expiresAt = now + this.sessionIdleMs
    await this.store.addSession({ id: sessionId, tokenHash: hashToken(token), userId, createdAt: now, expiresAt })
    return { token, sessionId, expiresAt }
  }

  /** The principal of a live session, sliding its expiry forward; null if unknown, expired or revoked. */
  async authenticate(token: string | undefined | null): Promise<Principal | null> {
    if (!token || token.length > 200) return null
    const found = await this.store.sessionByToken(hashToken(token))
    if (!found || found.revokedAt !== null || found.user.deactivatedAt !== null) return null
    if (this.expiryOf(found.sessionId, found.expiresAt) <= Date.now()) return null
    this.touch(found.sessionId)
    const { user } = found
    this.names.set(user.id, user.name)
    this.membersOf(user.workspace).add(user.id)
    await this.knowWorkspace(user.workspace)
    return {
      userId: user.id,
      email: user.email,
      name: user.name,
      color: user.color,
      role: user.role,
      workspace: user.workspace,
      sessionId: found.sessionId,
    }
  }

  /**
   * Slides a live session's expiry forward (it is in use: a request, a socket message), at
   * most every `touchEveryMs`. The sessions used are written together, one transaction up to a
   * second later (`touchEveryMs` at most), or at the socket sweep's next check if sooner: one
   * commit for all of them instead of one each. Until it is written, a check of the session
   * counts the use (`expiryOf`), so a session used just before its stored expiry does not end
   * meanwhile. A use still waiting to be written stays the one written (the write slides only
   * a session live at that use, which it was; a later use might not pass that check).
   */
  touch(sessionId: string): void {
    const now = Date.now()
    const touched = this.lastTouched.get(sessionId) ?? 0
    if (now - touched <= this.touchEveryMs || this.dueTouches.has(sessionId)) return
    this.lastTouched.set(sessionId, now)
    this.dueTouches.set(sessionId, now)
    if (!this.touchTimer) {
      this.touchTimer = setTimeout(() => void this.writeTouches(), Math.min(1000, this.touchEveryMs))
      this.touchTimer.unref()
    }
  }

  /** A session's expiry: the stored one, or later if it was used since and that is not written yet. */
  private expiryOf(sessionId: string, stored: number): number {
    let expiry = stored
    for (const uses of [this.dueTouches, ...this.writingTouches]) {
      const usedAt = uses.get(sessionId)
      if (usedAt !== undefined) expiry = Math.max(expiry, usedAt + this.sessionIdleMs)
    }
    return expiry
  }

  /**
   * Writes the expiries of the sessions used since the last write; rejects if that fails.
   * Resolves once every earlier write has finished too. Writes run one after the other, so a
   * later use of a session is written after an earlier one, whose slide it may need (a
   * connection of a pool could otherwise commit it first).
   */
  private writePendingTouches(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer)
    this.touchTimer = null
    if (this.dueTouches.size === 0) return this.lastWrite
    const due = this.dueTouches
    this.dueTouches = new Map()
    this.writingTouches.add(due)
    const write = this.lastWrite
      .then(() => this.store.slideSessions([...due], this.sessionIdleMs))
      .catch((error: unknown) => {
        // Not slid: the sessions' next use tries again.
        for (const [sessionId] of due) this.lastTouched.delete(sessionId)
        throw error
      })
      .finally(() => this.writingTouches.delete(due))
    this.lastWrite = write.catch(() => {})
    return write
  }

  /** Writes the pending expiries, reporting a failure (the timer's write, and the last one before the database closes). */
  async writeTouches(): Promise<void> {
    try {
      await this.writePendingTouches()
    } catch (error) {
      this.options.onError?.(error, 'session expiry write')
    }
  }

  /** Listens for revoked sessions; returns the unsubscribe function. */
  onSessionEnded(listener: SessionEndedListener): () => void {
    this.endedListeners.add(listener)
    return () => this.endedListeners.delete(listener)
  }

  /** Which of `sessionIds` are still live (not revoked, not expired), in one query (the socket sweep checks every open session). */
  async liveSessions(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set()
    await this.writePendingTouches()
    const stored = await this.store.unrevokedSessions(sessionIds)
    const now = Date.now()
    const live = new Set(stored.filter((s) => this.expiryOf(s.id, s.expiresAt) > now).map((s) => s.id))
    for (const id of sessionIds) if (!live.has(id)) this.lastTouched.delete(id)
    return live
  }

  /** Revokes a session and tells the listeners (which close its sockets with 4401). */
  async revokeSession(sessionId: string): Promise<void> {
    await this.store.revokeSession(sessionId, Date.now())
    this.ended(sessionId)
  }

  /** Revokes every session of a user (password change, removal). Returns their ids. */
  async revokeUserSessions(userId: string): Promise<string[]> {
    const ids = await this.store.revokeUserSessions(userId, Date.now())
    for (const id of ids) this.ended(id)
    return ids
  }

  /** Adds a user to the admin's workspace with an initial password; only an owner adds an owner. */
  async adminAddUser(admin: Principal, input: { email: string; password: string; role: string; name?: string }): Promise<AdminUser> {
    if (input.role === 'owner' && admin.role !== 'owner') throw new AuthError('forbidden', 'only an owner can add an owner')
    const user = await this.addUser({ ...input, workspace: admin.workspace })
    return { ...user, deactivatedAt: null }
  }

  /** The users of the admin's workspace, deactivated ones included. */
  async adminListUsers(admin: Principal): Promise<AdminUser[]> {
    return (await this.store.usersOf(admin.workspace)).map((user) => this.toAdmin(user))
  }

  /**
   * Changes a user's role. Their sessions are revoked (sockets close with 4401 here at once,
   * on other processes at their next session sweep): every request and socket after is
   * authorized with the new role, with nothing to keep in step. Only an owner grants or takes
   * away the owner role, and a workspace keeps one active owner.
   */
  async changeRole(admin: Principal, userId: string, role: string): Promise<AdminUser> {
    if (!isRole(role)) throw new AuthError('invalid', `role must be one of ${ROLES.join(', ')}, not "${role}"`)
    const user = await this.managed(admin, userId)
    if (user.role === role) return this.toAdmin(user)
    if ((role === 'owner' || user.role === 'owner') && admin.role !== 'owner')
      throw new AuthError('forbidden', 'only an owner can grant or take away the owner role')
    const outcome = await this.store.setRole(user.id, role)
    if (outcome === 'no-user') throw new AuthError('not-found', `no user ${userId}`)
    if (outcome === 'last-owner') throw lastOwner()
    await this.revokeUserSessions(user.id)
    return this.toAdmin({ ...user, role })
  }

  /** Deactivates a user: kept (their history names them), refused at sign-in, every session revoked. */
  async deactivateUser(admin: Principal, userId: string): Promise<AdminUser> {
    const user = await this.managed(admin, userId)
    if (user.id === admin.userId) throw new AuthError('invalid', 'you cannot deactivate your own account')
    if (user.role === 'owner' && admin.role !== 'owner') throw new AuthError('forbidden', 'only an owner can deactivate an owner')
    const at = Date.now()
    const outcome = await this.store.deactivateUser(user.id, at)
    if (outcome === 'no-user') throw new AuthError('not-found', `no user ${userId}`)
    if (outcome === 'last-owner') throw lastOwner()
    // Revoked even when it was deactivated already: a session opened in between ends too.
    await this.revokeUserSessions(user.id)
    return this.toAdmin({ ...user, deactivatedAt: outcome === 'deactivated' ? at : (user.deactivatedAt ?? at) })
  }

  /** A user's live sessions (the admin's workspace only). */
  async sessionsOf(admin: Principal, userId: string): Promise<SessionInfo[]> {
    const user = await this.managed(admin, userId)
    return this.store.sessionsOf(user.id, Date.now())
  }

  /** Revokes one session of a user of the admin's workspace; its sockets close with 4401. */
  async adminRevokeSession(admin: Principal, sessionId: string): Promise<void> {
    const session = await this.store.sessionById(sessionId)
    const user = session && (await this.store.userById(session.userId))
    if (!session || !user || user.workspace !== admin.workspace) throw new AuthError('not-found', `no session ${sessionId}`)
    await this.revokeSession(session.id)
  }

  /** A user of the admin's workspace; another workspace's is answered as if it did not exist. */
  private async managed(admin: Principal, userId: string): Promise<StoredUser> {
    const user = await this.store.userById(userId)
    if (!user || user.workspace !== admin.workspace) throw new AuthError('not-found', `no user ${userId}`)
    return user
  }

  private toAdmin(user: StoredUser): AdminUser {
    return { ...this.toPublic(user), deactivatedAt: user.deactivatedAt }
  }

  private ended(sessionId: string): void {
    this.lastTouched.delete(sessionId)
    for (const listener of this.endedListeners) listener(sessionId)
  }

  /** The user as shown to clients; its name is remembered for `userName`. */
  private toPublic(user: NewUser): PublicUser {
    this.names.set(user.id, user.name)
    this.membersOf(user.workspace).add(user.id)
    return { id: user.id, email: user.email, name: user.name, role: user.role, workspace: user.workspace, color: user.color }
  }
}

/**
 * Verifies a password against a stored hash, or against the dummy hash when there is none. A
 * hash with older, cheaper parameters is checked alongside the dummy hash (in parallel, on
 * another worker thread), so that it takes about as long as a current one and does not single
 * out the accounts not signed in since the parameters changed.
 */
async function checkPassword(password: string, stored: string | undefined): Promise<boolean> {
  const dummy = await DUMMY_HASH_PROMISE
  if (stored === undefined) return verifyPassword(password, dummy)
  if (!isOutdated(stored)) return verifyPassword(password, stored)
  const [ok] = await Promise.all([verifyPassword(password, stored), verifyPassword(password, dummy)])
  return ok
}

function emailTaken(email: string): AuthError {
  return new AuthError('exists', `a user with e-mail ${email} already exists`)
}

function inviteGone(): AuthError {
  return new AuthError('gone', 'this invite link was used already or has expired; ask for a new one')
}

function inviteInfo(invite: StoredInvite): InviteInfo {
  return {
    workspace: { id: invite.workspace, name: invite.workspaceName },
    role: invite.role,
    email: invite.email,
    expiresAt: invite.expiresAt,
  }
}

function lastOwner(): AuthError {
  return new AuthError('conflict', 'the workspace must keep at least one active owner')
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
