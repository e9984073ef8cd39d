/**
 * Workspaces, users and sessions in the SQLite database (tables of server/store/openDatabase.ts).
 * Each method is one statement or one transaction on the event loop; the promises it returns
 * are already settled.
 */
import { type Db, statementCache } from '../store/openDatabase.js'
import type {
  AuthStore,
  NewInvite,
  NewSession,
  NewUser,
  SessionInfo,
  SessionUses,
  StoredInvite,
  StoredUser,
  TokenSession,
} from './AuthStore.js'
import type { Role } from './types.js'
import {
  ADD_INVITE_COLUMNS,
  INVITE_SQL,
  type InviteRow,
  KEEPS_AN_OWNER,
  SESSION_INFO_COLUMNS,
  type SessionInfoRow,
  TOKEN_SESSION_SQL,
  type TokenSessionRow,
  USER_COLUMNS,
  type UserRow,
  sessionInfoOf,
  storedUserOf,
  inviteOf,
  tokenSessionOf,
  unchangedBecause,
} from './authRows.js'

/** Thrown inside `acceptInvite`'s transaction to roll it back when the e-mail is taken. */
const EMAIL_TAKEN = Symbol('email taken')

export class SqliteAuthStore implements AuthStore {
  /** Statements run per request, per socket and by the session sweep, compiled once. */
  private readonly stmt
  private readonly slide: (uses: SessionUses, idleMs: number) => void

  constructor(private readonly db: Db) {
    this.stmt = statementCache(db)
    this.slide = db.transaction((uses: SessionUses, idleMs: number) => {
      const slide = this.stmt('UPDATE sessions SET expires_at = MAX(expires_at, ?) WHERE id = ? AND revoked_at IS NULL AND expires_at > ?')
      for (const [sessionId, usedAt] of uses) slide.run(usedAt + idleMs, sessionId, usedAt)
    })
  }

  async addWorkspace(id: string, name: string, createdAt: number): Promise<boolean> {
    const result = this.db
      .prepare('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING')
      .run(id, name, createdAt)
    return result.changes === 1
  }

  async hasWorkspace(id: string): Promise<boolean> {
    return this.stmt('SELECT 1 FROM workspaces WHERE id = ?').get(id) !== undefined
  }

  async workspaceName(id: string): Promise<string | null> {
    return (this.stmt('SELECT name FROM workspaces WHERE id = ?').get(id) as { name: string } | undefined)?.name ?? null
  }

  async hasAnyWorkspace(): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM workspaces LIMIT 1').get() !== undefined
  }

  async userCount(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n
  }

  async addUser(user: NewUser, createdAt: number): Promise<boolean> {
    return this.addUserNow(user, createdAt)
  }

  private addUserNow(user: NewUser, createdAt: number): boolean {
    try {
      this.db
        .prepare('INSERT INTO users (id, workspace, email, name, role, password_hash, color, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(user.id, user.workspace, user.email, user.name, user.role, user.passwordHash, user.color, createdAt)
      return true
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false
      throw error
    }
  }

  async userById(id: string): Promise<StoredUser | undefined> {
    const row = this.stmt(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).get(id) as UserRow | undefined
    return row && storedUserOf(row)
  }

  async userByEmail(email: string): Promise<StoredUser | undefined> {
    const row = this.stmt(`SELECT ${USER_COLUMNS} FROM users WHERE email = ?`).get(email) as UserRow | undefined
    return row && storedUserOf(row)
  }

  async usersOf(workspace: string): Promise<StoredUser[]> {
    return (this.stmt(`SELECT ${USER_COLUMNS} FROM users WHERE workspace = ? ORDER BY name`).all(workspace) as UserRow[]).map(storedUserOf)
  }

  async replacePasswordHash(userId: string, previous: string, next: string): Promise<void> {
    this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?').run(next, userId, previous)
  }

  async addSession(session: NewSession): Promise<void> {
    this.stmt('INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(
      session.id,
      session.tokenHash,
      session.userId,
      session.createdAt,
      session.expiresAt,
    )
  }

  async sessionByToken(tokenHash: string): Promise<TokenSession | undefined> {
    const row = this.stmt(`${TOKEN_SESSION_SQL} WHERE s.token_hash = ?`).get(tokenHash) as TokenSessionRow | undefined
    return row && tokenSessionOf(row)
  }

  async unrevokedSessions(ids: readonly string[]): Promise<{ id: string; expiresAt: number }[]> {
    if (ids.length === 0) return []
    const rows = this.stmt('SELECT id, expires_at FROM sessions WHERE id IN (SELECT value FROM json_each(?)) AND revoked_at IS NULL').all(
      JSON.stringify(ids),
    ) as { id: string; expires_at: number }[]
    return rows.map((row) => ({ id: row.id, expiresAt: row.expires_at }))
  }

  async slideSessions(uses: SessionUses, idleMs: number): Promise<void> {
    if (uses.length > 0) this.slide(uses, idleMs)
  }

  async revokeSession(id: string, at: number): Promise<void> {
    this.stmt('UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
  }

  async revokeUserSessions(userId: string, at: number): Promise<string[]> {
    const rows = this.db
      .prepare('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id')
      .all(at, userId) as { id: string }[]
    return rows.map((row) => row.id)
  }

  // One statement each: SQLite writes one at a time, so the check and the write are atomic.
  async setRole(userId: string, role: Role): Promise<'changed' | 'no-user' | 'last-owner'> {
    const changed = this.db
      .prepare(`UPDATE users SET role = ? WHERE id = ? AND (? = 'owner' OR ${KEEPS_AN_OWNER})`)
      .run(role, userId, role).changes
    if (changed === 1) return 'changed'
    return (await this.userById(userId)) ? 'last-owner' : 'no-user'
  }

  async deactivateUser(userId: string, at: number): Promise<'deactivated' | 'no-user' | 'already' | 'last-owner'> {
    const changed = this.db
      .prepare(`UPDATE users SET deactivated_at = ? WHERE id = ? AND deactivated_at IS NULL AND ${KEEPS_AN_OWNER}`)
      .run(at, userId).changes
    return changed === 1 ? 'deactivated' : unchangedBecause(await this.userById(userId))
  }

  async sessionsOf(userId: string, now: number): Promise<SessionInfo[]> {
    const rows = this.db
      .prepare(
        `SELECT ${SESSION_INFO_COLUMNS} FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id`,
      )
      .all(userId, now) as SessionInfoRow[]
    return rows.map(sessionInfoOf)
  }

  async sessionById(id: string): Promise<SessionInfo | undefined> {
    const row = this.db.prepare(`SELECT ${SESSION_INFO_COLUMNS} FROM sessions WHERE id = ?`).get(id) as SessionInfoRow | undefined
    return row && sessionInfoOf(row)
  }

  async addInvite(invite: NewInvite): Promise<void> {
    this.db
      .prepare(`INSERT INTO invites (${ADD_INVITE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(invite.id, invite.tokenHash, invite.workspace, invite.role, invite.email, invite.createdBy, invite.createdAt, invite.expiresAt)
  }

  async inviteByToken(tokenHash: string): Promise<StoredInvite | undefined> {
    const row = this.db.prepare(`${INVITE_SQL} WHERE i.token_hash = ?`).get(tokenHash) as InviteRow | undefined
    return row && inviteOf(row)
  }

  async acceptInvite(inviteId: string, user: NewUser, at: number): Promise<'accepted' | 'gone' | 'exists'> {
    const accept = this.db.transaction((): 'accepted' | 'gone' => {
      const claimed = this.db
        .prepare('UPDATE invites SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?')
        .run(at, user.id, inviteId, at).changes
      if (claimed === 0) return 'gone'
      if (!this.addUserNow(user, at)) throw EMAIL_TAKEN
      return 'accepted'
    })
    try {
      return accept()
    } catch (error) {
      if (error === EMAIL_TAKEN) return 'exists'
      throw error
    }
  }
}
