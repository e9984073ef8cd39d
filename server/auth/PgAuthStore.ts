/**
 * Workspaces, users and sessions in PostgreSQL (migration 4, server/pg/migrations.ts), shared
 * by every process on the database: a session revoked by one is refused by the others at
 * their next lookup. Behaves exactly as `SqliteAuthStore` (one contract suite runs against
 * both). Every method is one statement, so none holds a lock past its own commit.
 *
 * E-mails are compared as `lower(email COLLATE "C")`: ASCII letters only, as SQLite's NOCASE,
 * whatever the database's locale; the unique index on that expression is the rule.
 */
import { inTransaction } from '../pg/inTransaction.js'
import type { Pool } from '../pg/openPool.js'
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

const SQL = {
  addWorkspace: 'INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
  hasWorkspace: 'SELECT 1 FROM workspaces WHERE id = $1',
  workspaceName: 'SELECT name FROM workspaces WHERE id = $1',
  anyWorkspace: 'SELECT 1 FROM workspaces LIMIT 1',
  userCount: 'SELECT count(*)::integer AS n FROM users',
  addUser: `INSERT INTO users (id, workspace, email, name, role, password_hash, color, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  userById: `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`,
  userByEmail: `SELECT ${USER_COLUMNS} FROM users WHERE lower(email COLLATE "C") = lower($1::text COLLATE "C")`,
  // Byte order, as SQLite's BINARY: the database's locale would order case and accents its own way.
  usersOf: `SELECT ${USER_COLUMNS} FROM users WHERE workspace = $1 ORDER BY name COLLATE "C"`,
  replaceHash: 'UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2',
  addSession: 'INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
  sessionByToken: `${TOKEN_SESSION_SQL} WHERE s.token_hash = $1`,
  unrevoked: 'SELECT id, expires_at FROM sessions WHERE id = ANY($1::text[]) AND revoked_at IS NULL',
  // The rows are locked in id order before any is updated: two processes sliding the same
  // sessions at once wait for each other instead of deadlocking.
  slide: `WITH locked AS MATERIALIZED (
      SELECT s.id, u.used_at FROM sessions s JOIN unnest($1::text[], $2::bigint[]) AS u(id, used_at) ON u.id = s.id
      ORDER BY s.id FOR UPDATE OF s
    )
    UPDATE sessions s SET expires_at = greatest(s.expires_at, locked.used_at + $3::bigint)
    FROM locked WHERE s.id = locked.id AND s.revoked_at IS NULL AND s.expires_at > locked.used_at`,
  revoke: 'UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL',
  revokeUser: `WITH doomed AS MATERIALIZED (SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id FOR UPDATE)
    UPDATE sessions s SET revoked_at = $2 FROM doomed WHERE s.id = doomed.id AND s.revoked_at IS NULL RETURNING s.id`,
  // Taken first by a change that must keep an owner: such changes of one workspace go one at a
  // time, and each one's check (a new snapshot once the lock is held) sees the one before.
  lockWorkspaceOf: 'SELECT 1 FROM workspaces w JOIN users u ON u.workspace = w.id WHERE u.id = $1 FOR UPDATE OF w',
  setRole: `UPDATE users SET role = $2 WHERE id = $1 AND ($2 = 'owner' OR ${KEEPS_AN_OWNER})`,
  deactivate: `UPDATE users SET deactivated_at = $2 WHERE id = $1 AND deactivated_at IS NULL AND ${KEEPS_AN_OWNER}`,
  sessionsOf: `SELECT ${SESSION_INFO_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
    ORDER BY created_at, id COLLATE "C"`,
  sessionById: `SELECT ${SESSION_INFO_COLUMNS} FROM sessions WHERE id = $1`,
  addInvite: `INSERT INTO invites (${ADD_INVITE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  inviteByToken: `${INVITE_SQL} WHERE i.token_hash = $1`,
  claimInvite: 'UPDATE invites SET used_at = $1, used_by = $2 WHERE id = $3 AND used_at IS NULL AND expires_at > $1',
} as const

type Statement = keyof typeof SQL

export class PgAuthStore implements AuthStore {
  constructor(private readonly pool: Pool) {}

  /** Runs a named prepared statement (parsed once per connection). */
  private async run<R extends object>(statement: Statement, values: unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    const result = await this.pool.query<R>({ name: `auth-${statement}`, text: SQL[statement], values })
    return { rows: result.rows, rowCount: result.rowCount ?? 0 }
  }

  async addWorkspace(id: string, name: string, createdAt: number): Promise<boolean> {
    return (await this.run('addWorkspace', [id, name, createdAt])).rowCount === 1
  }

  async hasWorkspace(id: string): Promise<boolean> {
    return (await this.run('hasWorkspace', [id])).rowCount > 0
  }

  async workspaceName(id: string): Promise<string | null> {
    return ((await this.run('workspaceName', [id])).rows[0] as { name: string } | undefined)?.name ?? null
  }

  async hasAnyWorkspace(): Promise<boolean> {
    return (await this.run('anyWorkspace', [])).rowCount > 0
  }

  async userCount(): Promise<number> {
    return (await this.run<{ n: number }>('userCount', [])).rows[0]!.n
  }

  async addUser(user: NewUser, createdAt: number): Promise<boolean> {
    try {
      await this.run('addUser', userValues(user, createdAt))
      return true
    } catch (error) {
      if (emailTaken(error)) return false
      throw error
    }
  }

  async userById(id: string): Promise<StoredUser | undefined> {
    const [row] = (await this.run<UserRow>('userById', [id])).rows
    return row && storedUserOf(row)
  }

  async userByEmail(email: string): Promise<StoredUser | undefined> {
    const [row] = (await this.run<UserRow>('userByEmail', [email])).rows
    return row && storedUserOf(row)
  }

  async usersOf(workspace: string): Promise<StoredUser[]> {
    return (await this.run<UserRow>('usersOf', [workspace])).rows.map(storedUserOf)
  }

  async replacePasswordHash(userId: string, previous: string, next: string): Promise<void> {
    await this.run('replaceHash', [userId, previous, next])
  }

  async addSession(session: NewSession): Promise<void> {
    await this.run('addSession', [session.id, session.tokenHash, session.userId, session.createdAt, session.expiresAt])
  }

  async sessionByToken(tokenHash: string): Promise<TokenSession | undefined> {
    const [row] = (await this.run<TokenSessionRow>('sessionByToken', [tokenHash])).rows
    return row && tokenSessionOf(row)
  }

  async unrevokedSessions(ids: readonly string[]): Promise<{ id: string; expiresAt: number }[]> {
    if (ids.length === 0) return []
    const { rows } = await this.run<{ id: string; expires_at: number }>('unrevoked', [ids])
    return rows.map((row) => ({ id: row.id, expiresAt: row.expires_at }))
  }

  async slideSessions(uses: SessionUses, idleMs: number): Promise<void> {
    if (uses.length === 0) return
    await this.run('slide', [uses.map(([id]) => id), uses.map(([, usedAt]) => usedAt), idleMs])
  }

  async revokeSession(id: string, at: number): Promise<void> {
    await this.run('revoke', [id, at])
  }

  async revokeUserSessions(userId: string, at: number): Promise<string[]> {
    return (await this.run<{ id: string }>('revokeUser', [userId, at])).rows.map((row) => row.id)
  }

  async setRole(userId: string, role: Role): Promise<'changed' | 'no-user' | 'last-owner'> {
    if ((await this.keepingAnOwner('setRole', [userId, role])) === 1) return 'changed'
    return (await this.userById(userId)) ? 'last-owner' : 'no-user'
  }

  async deactivateUser(userId: string, at: number): Promise<'deactivated' | 'no-user' | 'already' | 'last-owner'> {
    if ((await this.keepingAnOwner('deactivate', [userId, at])) === 1) return 'deactivated'
    return unchangedBecause(await this.userById(userId))
  }

  /** Runs `statement` (whose first parameter is the user's id) with their workspace locked; the rows it changed. */
  private keepingAnOwner(statement: 'setRole' | 'deactivate', values: unknown[]): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      await client.query({ name: 'auth-lockWorkspaceOf', text: SQL.lockWorkspaceOf, values: [values[0]] })
      return (await client.query({ name: `auth-${statement}`, text: SQL[statement], values })).rowCount ?? 0
    })
  }

  async sessionsOf(userId: string, now: number): Promise<SessionInfo[]> {
    return (await this.run<SessionInfoRow>('sessionsOf', [userId, now])).rows.map(sessionInfoOf)
  }

  async sessionById(id: string): Promise<SessionInfo | undefined> {
    const [row] = (await this.run<SessionInfoRow>('sessionById', [id])).rows
    return row && sessionInfoOf(row)
  }

  async addInvite(invite: NewInvite): Promise<void> {
    const { id, tokenHash, workspace, role, email, createdBy, createdAt, expiresAt } = invite
    await this.run('addInvite', [id, tokenHash, workspace, role, email, createdBy, createdAt, expiresAt])
  }

  async inviteByToken(tokenHash: string): Promise<StoredInvite | undefined> {
    const [row] = (await this.run<InviteRow>('inviteByToken', [tokenHash])).rows
    return row && inviteOf(row)
  }

  async acceptInvite(inviteId: string, user: NewUser, at: number): Promise<'accepted' | 'gone' | 'exists'> {
    try {
      return await inTransaction(this.pool, async (client) => {
        const claimed = await client.query({ name: 'auth-claimInvite', text: SQL.claimInvite, values: [at, user.id, inviteId] })
        if ((claimed.rowCount ?? 0) === 0) return 'gone'
        await client.query({ name: 'auth-addUser', text: SQL.addUser, values: userValues(user, at) })
        return 'accepted'
      })
    } catch (error) {
      if (emailTaken(error)) return 'exists'
      throw error
    }
  }
}

function userValues(user: NewUser, createdAt: number): unknown[] {
  return [user.id, user.workspace, user.email, user.name, user.role, user.passwordHash, user.color, createdAt]
}

function emailTaken(error: unknown): boolean {
  const { code, constraint } = error as { code?: string; constraint?: string }
  return code === '23505' && constraint === 'users_email'
}
