/**
 * Where workspaces, users and sessions are kept: SQLite or PostgreSQL (server/backend.ts).
 * `AuthService` holds the rules (validation, hashing, tokens, sliding expiry); a store only
 * reads and writes, each method one statement or one short transaction, so every process on
 * one database sees a revocation as soon as it is committed. One contract suite runs against
 * every implementation (test/authstore.contract.test.ts).
 *
 * E-mails are compared without ASCII case, as SQLite's `COLLATE NOCASE` does: `Ann@x` and
 * `ann@x` are one account. Times are ms since the epoch.
 */
import type { Role } from './types.js'

export interface StoredUser {
  id: string
  workspace: string
  email: string
  name: string
  role: Role
  passwordHash: string
  color: string
  /** When the user was deactivated (refused at sign-in, no live session), else null. */
  deactivatedAt: number | null
}

/** A user as added: never deactivated yet. */
export type NewUser = Omit<StoredUser, 'deactivatedAt'>

/** A live session as the admin console lists it. */
export interface SessionInfo {
  id: string
  userId: string
  createdAt: number
  expiresAt: number
}

export interface NewSession {
  id: string
  /** SHA-256 of the token, hex: the token itself is never stored. */
  tokenHash: string
  userId: string
  createdAt: number
  expiresAt: number
}

/** A session found by its token hash, with its user. */
export interface TokenSession {
  sessionId: string
  expiresAt: number
  revokedAt: number | null
  user: StoredUser
}

/** A one-time invite link as created: its token is only ever stored as its hash. */
export interface NewInvite {
  id: string
  /** SHA-256 of the token, hex. */
  tokenHash: string
  workspace: string
  role: Role
  /** The e-mail the new user must have, or null when they choose it. */
  email: string | null
  createdBy: string
  createdAt: number
  expiresAt: number
}

/** An invite found by its token, with its workspace's name. */
export interface StoredInvite extends NewInvite {
  workspaceName: string
  usedAt: number | null
}

/** Session ids with the time each was last used, for `slideSessions`. */
export type SessionUses = readonly (readonly [sessionId: string, usedAt: number])[]

export interface AuthStore {
  /** Adds a workspace; false when one with this id exists. */
  addWorkspace(id: string, name: string, createdAt: number): Promise<boolean>
  hasWorkspace(id: string): Promise<boolean>
  /** A workspace's name; null when there is no such workspace. */
  workspaceName(id: string): Promise<string | null>
  /** Whether any workspace exists (an empty database is the one the demo may seed). */
  hasAnyWorkspace(): Promise<boolean>
  /** Users in all workspaces (a new user's color goes round by it). */
  userCount(): Promise<number>
  /** Adds a user; false when its e-mail is taken. The workspace must exist. */
  addUser(user: NewUser, createdAt: number): Promise<boolean>
  userById(id: string): Promise<StoredUser | undefined>
  userByEmail(email: string): Promise<StoredUser | undefined>
  /** A workspace's users, by name (compared byte by byte, as SQLite's BINARY does). */
  usersOf(workspace: string): Promise<StoredUser[]>
  /** Sets a user's password hash, only if it is still `previous` (a concurrent change wins). */
  replacePasswordHash(userId: string, previous: string, next: string): Promise<void>
  addSession(session: NewSession): Promise<void>
  sessionByToken(tokenHash: string): Promise<TokenSession | undefined>
  /** Of `ids`, the sessions not revoked, with their stored expiry. */
  unrevokedSessions(ids: readonly string[]): Promise<{ id: string; expiresAt: number }[]>
  /**
   * Slides the expiry of each session used to `usedAt + idleMs`, in one transaction: only a
   * session not revoked and not yet expired when it was used, and never backward (another
   * process may have written a later use first).
   */
  slideSessions(uses: SessionUses, idleMs: number): Promise<void>
  /** Marks a session revoked at `at` (a second revocation keeps the first time). */
  revokeSession(id: string, at: number): Promise<void>
  /** Revokes every session of a user not yet revoked, in one statement; returns their ids. */
  revokeUserSessions(userId: string, at: number): Promise<string[]>
  /**
   * Sets a user's role, unless that takes the owner role from the workspace's last active
   * owner (`last-owner`). Checked and written atomically: two admins demoting the last two
   * owners at once leave one of them owner.
   */
  setRole(userId: string, role: Role): Promise<'changed' | 'no-user' | 'last-owner'>
  /** Marks a user deactivated at `at`, unless it is the workspace's last active owner; atomically, as `setRole`. */
  deactivateUser(userId: string, at: number): Promise<'deactivated' | 'no-user' | 'already' | 'last-owner'>
  /** A user's sessions not revoked whose stored expiry is after `now`, oldest first. */
  sessionsOf(userId: string, now: number): Promise<SessionInfo[]>
  /** A session by id (revoked or not), or undefined. */
  sessionById(id: string): Promise<SessionInfo | undefined>
  addInvite(invite: NewInvite): Promise<void>
  inviteByToken(tokenHash: string): Promise<StoredInvite | undefined>
  /**
   * Marks an invite used by `user` and adds the user, in one transaction: `gone` (nothing
   * written) when it was used already or has expired by `at`, `exists` (nothing written) when
   * the user's e-mail is taken. Two people accepting one link at once: one user is added.
   */
  acceptInvite(inviteId: string, user: NewUser, at: number): Promise<'accepted' | 'gone' | 'exists'>
}
