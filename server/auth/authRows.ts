/** Rows of `users` and `sessions` as both databases return them, and what the stores make of them. */
import type { SessionInfo, StoredInvite, StoredUser, TokenSession } from './AuthStore.js'
import type { Role } from './types.js'

/** A `users` row, as both databases name its columns. */
export interface UserRow {
  id: string
  workspace: string
  email: string
  name: string
  role: Role
  password_hash: string
  color: string
  deactivated_at: number | null
}

export function storedUserOf(row: UserRow): StoredUser {
  return {
    id: row.id,
    workspace: row.workspace,
    email: row.email,
    name: row.name,
    role: row.role,
    passwordHash: row.password_hash,
    color: row.color,
    deactivatedAt: row.deactivated_at,
  }
}

/** The columns of a user and of the session found by its token (both databases). */
export const TOKEN_SESSION_SQL = `SELECT s.id AS session_id, s.expires_at, s.revoked_at,
  u.id, u.workspace, u.email, u.name, u.role, u.password_hash, u.color, u.deactivated_at
  FROM sessions s JOIN users u ON u.id = s.user_id`

export type TokenSessionRow = UserRow & { session_id: string; expires_at: number; revoked_at: number | null }

export function tokenSessionOf(row: TokenSessionRow): TokenSession {
  return { sessionId: row.session_id, expiresAt: row.expires_at, revokedAt: row.revoked_at, user: storedUserOf(row) }
}

export const USER_COLUMNS = 'id, workspace, email, name, role, password_hash, color, deactivated_at'

/**
 * The condition (on a `users` row) under which it may stop being an active owner: it is not
 * one, or another active owner of its workspace remains. Parameters are the caller's.
 */
export const KEEPS_AN_OWNER = `(users.role <> 'owner' OR users.deactivated_at IS NOT NULL OR EXISTS (
  SELECT 1 FROM users other WHERE other.workspace = users.workspace AND other.role = 'owner'
    AND other.deactivated_at IS NULL AND other.id <> users.id))`

/** Why an update of a user that must keep an owner changed nothing, from the user as it is now. */
export function unchangedBecause(user: { deactivatedAt: number | null } | undefined): 'no-user' | 'already' | 'last-owner' {
  if (!user) return 'no-user'
  return user.deactivatedAt !== null ? 'already' : 'last-owner'
}

export const SESSION_INFO_COLUMNS = 'id, user_id, created_at, expires_at'

export interface SessionInfoRow {
  id: string
  user_id: string
  created_at: number
  expires_at: number
}

export function sessionInfoOf(row: SessionInfoRow): SessionInfo {
  return { id: row.id, userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at }
}

/** An invite with its workspace's name (both databases; the caller adds `WHERE i.token_hash = ?`). */
export const INVITE_SQL = `SELECT i.id, i.token_hash, i.workspace, i.role, i.email, i.created_by, i.created_at, i.expires_at,
  i.used_at, w.name AS workspace_name FROM invites i JOIN workspaces w ON w.id = i.workspace`

export const ADD_INVITE_COLUMNS = 'id, token_hash, workspace, role, email, created_by, created_at, expires_at'

export interface InviteRow {
  id: string
  token_hash: string
  workspace: string
  role: Role
  email: string | null
  created_by: string
  created_at: number
  expires_at: number
  used_at: number | null
  workspace_name: string
}

export function inviteOf(row: InviteRow): StoredInvite {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    workspace: row.workspace,
    role: row.role,
    email: row.email,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    workspaceName: row.workspace_name,
  }
}
