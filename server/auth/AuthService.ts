/**
 * Workspaces, users and sessions. Tokens are opaque random strings; only their
 * SHA-256 is stored. Sessions expire after a sliding idle period.
 */
import { createHash, randomBytes } from 'node:crypto'
import { isValidId } from '../../shared/docNames.js'
import { type Db, statementCache } from '../store/openDatabase.js'
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

/** A failure the caller shows as is (CLI line, HTTP error). */
export class AuthError extends Error {
  constructor(
    readonly code: 'exists' | 'not-found' | 'invalid',
    message: string,
  ) {
    super(message)
  }
}

interface UserRow {
  id: string
  workspace: string
  email: string
  name: string
  role: Role
  password_hash: string
  color: string
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
  private readonly dueTouches = new Map<string, number>()
  private touchTimer: NodeJS.Timeout | null = null
  private readonly writeTouchesNow: (due: [string, number][]) => void
  private readonly endedListeners = new Set<SessionEndedListener>()
  /** Statements run per request, per socket and by the session sweep, compiled once. */
  private readonly stmt

  constructor(
    private readonly db: Db,
    private readonly options: AuthOptions = {},
  ) {
    this.stmt = statementCache(db)
    this.sessionIdleMs = options.sessionIdleMs ?? 7 * 24 * 3600 * 1000
    this.writeTouchesNow = db.transaction((due: [string, number][]) => {
      const slide = this.stmt('UPDATE sessions SET expires_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?')
      for (const [sessionId, usedAt] of due) slide.run(usedAt + this.sessionIdleMs, sessionId, usedAt)
    })
  }

  /** How often a session in use has its expiry slid forward: a tenth of the idle lifetime, at least every minute. */
  private get touchEveryMs(): number {
    return Math.min(60_000, this.sessionIdleMs / 10)
  }

  addWorkspace(id: string, name = id): void {
    if (!isValidId(id)) throw new AuthError('invalid', `workspace id "${id}" must be 1-64 letters, digits, "-" or "_"`)
    if (this.db.prepare('SELECT 1 FROM workspaces WHERE id = ?').get(id)) throw new AuthError('exists', `workspace "${id}" already exists`)
    this.db.prepare('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)').run(id, name, Date.now())
  }

  hasWorkspace(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM workspaces WHERE id = ?').get(id) !== undefined
  }

  async addUser(input: { workspace: string; email: string; password: string; role: string; name?: string }): Promise<PublicUser> {
    if (!isRole(input.role)) throw new AuthError('invalid', `role must be one of ${ROLES.join(', ')}, not "${input.role}"`)
    if (!this.hasWorkspace(input.workspace)) throw new AuthError('not-found', `no workspace "${input.workspace}"`)
    if (!/^[^\s@]+@[^\s@]+$/.test(input.email)) throw new AuthError('invalid', `"${input.email}" is not an e-mail address`)
    if (input.password.length < 8) throw new AuthError('invalid', 'the password must have at least 8 characters')
    if (this.db.prepare('SELECT 1 FROM users WHERE email = ?').get(input.email))
      throw new AuthError('exists', `a user with e-mail ${input.email} already exists`)
    const hash = await hashPassword(input.password)
    const count = (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n
    const user: PublicUser = {
      id: `u${randomBytes(6).toString('hex')}`,
      email: input.email,
      name: input.name ?? input.email.split('@')[0]!,
      role: input.role,
      workspace: input.workspace,
      color: COLORS[count % COLORS.length]!,
    }
    try {
      this.db
        .prepare('INSERT INTO users (id, workspace, email, name, role, password_hash, color, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(user.id, user.workspace, user.email, user.name, user.role, hash, user.color, Date.now())
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new AuthError('exists', `a user with e-mail ${input.email} already exists`)
      throw error
    }
    return user
  }

  listUsers(workspace: string): PublicUser[] {
    return (this.db.prepare('SELECT * FROM users WHERE workspace = ? ORDER BY name').all(workspace) as UserRow[]).map(toPublic)
  }

  getUser(id: string): PublicUser | null {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined
    return row ? toPublic(row) : null
  }

  /** Checks credentials. Unknown e-mail and wrong password take the same time and give the same answer. */
  async verifyCredentials(email: string, password: string): Promise<PublicUser | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE email = ?').get(email) as UserRow | undefined
    const ok = await checkPassword(password, row?.password_hash)
    if (!row || !ok) return null
    if (isOutdated(row.password_hash)) await this.rehash(row, password)
    return toPublic(row)
  }

  /**
   * Replaces a hash made with older parameters, now that the password is known to match. It
   * is only an upgrade: if it fails, the old hash stays and still verifies.
   */
  private async rehash(row: UserRow, password: string): Promise<void> {
    try {
      const hash = await hashPassword(password)
      this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?').run(hash, row.id, row.password_hash)
    } catch {
      // Keep the old hash.
    }
  }

  createSession(userId: string): { token: string; sessionId: string; expiresAt: number } {
    const token = randomBytes(32).toString('base64url')
    const sessionId = randomBytes(9).toString('base64url')
    const now = Date.now()
    const expiresAt = now + this.sessionIdleMs
    this.db
      .prepare('INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(sessionId, hashToken(token), userId, now, expiresAt)
    return { token, sessionId, expiresAt }
  }

  /** The principal of a live session, sliding its expiry forward; null if unknown, expired or revoked. */
  authenticate(token: string | undefined | null): Principal | null {
    if (!token || token.length > 200) return null
    const row = this.stmt(
      `SELECT s.id AS session_id, s.expires_at, s.revoked_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`,
    ).get(hashToken(token)) as (UserRow & { session_id: string; expires_at: number; revoked_at: number | null }) | undefined
    const now = Date.now()
    if (!row || row.revoked_at !== null || this.expiryOf(row.session_id, row.expires_at) <= now) return null
    this.touch(row.session_id)
    return {
      userId: row.id,
      email: row.email,
      name: row.name,
      color: row.color,
      role: row.role,
      workspace: row.workspace,
      sessionId: row.session_id,
    }
  }

  /**
   * Slides a live session's expiry forward (it is in use: a request, a socket message), at
   * most every `touchEveryMs`. The sessions used are written together, one transaction up to a
   * second later (`touchEveryMs` at most), or at the socket sweep's next check if sooner: one
   * commit, and one fsync on the event loop, for all of them instead of one each. Until then,
   * a check of the session counts the use (`expiryOf`), so a session used just before its
   * stored expiry does not end meanwhile.
   */
  touch(sessionId: string): void {
    const now = Date.now()
    const touched = this.lastTouched.get(sessionId) ?? 0
    if (now - touched <= this.touchEveryMs) return
    this.lastTouched.set(sessionId, now)
    this.dueTouches.set(sessionId, now)
    if (!this.touchTimer) {
      this.touchTimer = setTimeout(() => this.writeTouches(), Math.min(1000, this.touchEveryMs))
      this.touchTimer.unref()
    }
  }

  /** A session's expiry: the stored one, or later if it was used since and that is not written yet. */
  private expiryOf(sessionId: string, stored: number): number {
    const usedAt = this.dueTouches.get(sessionId)
    return usedAt === undefined ? stored : Math.max(stored, usedAt + this.sessionIdleMs)
  }

  /** Writes the expiries of the sessions used since the last write; throws if that fails. */
  private writePendingTouches(): void {
    if (this.touchTimer) clearTimeout(this.touchTimer)
    this.touchTimer = null
    if (this.dueTouches.size === 0) return
    const due = [...this.dueTouches]
    this.dueTouches.clear()
    try {
      this.writeTouchesNow(due)
    } catch (error) {
      // Not slid: the sessions' next use tries again.
      for (const [sessionId] of due) this.lastTouched.delete(sessionId)
      throw error
    }
  }

  /** Writes the pending expiries, reporting a failure (the timer's write, and the last one before the database closes). */
  writeTouches(): void {
    try {
      this.writePendingTouches()
    } catch (error) {
      this.options.onError?.(error, 'session expiry write')
    }
  }

  /** Listens for revoked sessions; returns the unsubscribe function. */
  onSessionEnded(listener: SessionEndedListener): () => void {
    this.endedListeners.add(listener)
    return () => this.endedListeners.delete(listener)
  }

  /** Whether a session is still live (not revoked, not expired). */
  isSessionLive(sessionId: string): boolean {
    const row = this.stmt('SELECT expires_at, revoked_at FROM sessions WHERE id = ?').get(sessionId) as
      | { expires_at: number; revoked_at: number | null }
      | undefined
    return row !== undefined && row.revoked_at === null && this.expiryOf(sessionId, row.expires_at) > Date.now()
  }

  /** Which of `sessionIds` are still live, in one query (the socket sweep checks every open session). */
  liveSessions(sessionIds: string[]): Set<string> {
    if (sessionIds.length === 0) return new Set()
    // The query reads the stored expiries: the uses not written yet are written first.
    this.writePendingTouches()
    const rows = this.stmt(
      'SELECT id FROM sessions WHERE id IN (SELECT value FROM json_each(?)) AND revoked_at IS NULL AND expires_at > ?',
    ).all(JSON.stringify(sessionIds), Date.now()) as { id: string }[]
    const live = new Set(rows.map((r) => r.id))
    for (const id of sessionIds) if (!live.has(id)) this.lastTouched.delete(id)
    return live
  }

  /** Revokes a session and tells the listeners (which close its sockets with 4401). */
  revokeSession(sessionId: string): void {
    this.db.prepare('UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(Date.now(), sessionId)
    this.lastTouched.delete(sessionId)
    for (const listener of this.endedListeners) listener(sessionId)
  }

  /** Revokes every session of a user (password change, removal). Returns their ids. */
  revokeUserSessions(userId: string): string[] {
    const ids = (this.db.prepare('SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL').all(userId) as { id: string }[]).map(
      (r) => r.id,
    )
    for (const id of ids) this.revokeSession(id)
    return ids
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

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

function toPublic(row: UserRow): PublicUser {
  return { id: row.id, email: row.email, name: row.name, role: row.role, workspace: row.workspace, color: row.color }
}
