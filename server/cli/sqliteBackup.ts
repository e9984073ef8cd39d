/**
 * `accord backup` and `accord restore` on SQLite: a consistent copy of the live file, and
 * putting such a copy back in place of a database no process has open.
 */
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { type Db, SQLITE_SCHEMA_VERSION } from '../store/openDatabase.js'

/** What a file starts with: how `restore` tells a SQLite copy from a pg_dump archive given to the wrong backend. */
export type FileKind = 'sqlite' | 'pg_dump' | 'other'

export function fileKind(file: string): FileKind {
  const head = Buffer.alloc(16)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, head, 0, 16, 0)
  } finally {
    closeSync(fd)
  }
  if (head.toString('latin1') === 'SQLite format 3\0') return 'sqlite'
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'pg_dump'
  return 'other'
}

/**
 * Takes `db` for this connection alone until it closes, or throws `SQLITE_BUSY` at once if
 * another connection has the file open (a running server does, all the time). In WAL mode an
 * exclusive connection does without the shared memory, so it must be the only one: no server
 * can open the file meanwhile either.
 */
export function holdExclusively(db: Db): void {
  db.pragma('busy_timeout = 0')
  db.pragma('locking_mode = EXCLUSIVE')
  db.exec('BEGIN EXCLUSIVE')
  db.exec('COMMIT')
}

export const isBusy = (error: unknown) => (error as { code?: string }).code === 'SQLITE_BUSY'

/**
 * SQLite's online backup of `source` (a server may be writing to it) into the new file
 * `target`, one self-contained file: in rollback-journal mode, so that opening it read-only
 * leaves no `-wal` and `-shm` files beside it (the server turns WAL on again when it opens it).
 */
export async function backupSqlite(source: string, target: string): Promise<void> {
  const partial = `${target}.partial`
  const db = new Database(source, { readonly: true, fileMustExist: true })
  try {
    await db.backup(partial)
  } finally {
    db.close()
  }
  const copy = new Database(partial, { fileMustExist: true })
  try {
    copy.pragma('journal_mode = DELETE')
  } finally {
    copy.close()
  }
  renameSync(partial, target)
}

/** The files that make up a SQLite database in WAL mode, or one left behind by a crash. */
const COMPANIONS = ['', '-wal', '-shm', '-journal']

/** Why `file` cannot be restored (not SQLite, damaged, from a newer accord), or null. */
export function unrestorable(file: string): string | null {
  const kind = fileKind(file)
  if (kind === 'pg_dump') return `${file} is a pg_dump archive: restore it with --database-url URL`
  if (kind !== 'sqlite') return `${file} is not a SQLite database`
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') return `${file} is damaged (SQLite quick_check: ${String(check)})`
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SQLITE_SCHEMA_VERSION)
      return `${file} is from a newer accord (schema version ${version}; this one knows ${SQLITE_SCHEMA_VERSION}): restore it with that accord`
    return null
  } finally {
    db.close()
  }
}

/**
 * Puts a copy of the backup `file` at `target`. An existing database there is replaced only
 * when `force` is given and no process has it open; it is kept beside it, self-contained
 * (its write-ahead log folded in), as the returned name. The copy is complete before
 * anything is moved, so a failure leaves the old database in place.
 */
export async function restoreSqlite(file: string, target: string, force: boolean): Promise<{ kept: string | null }> {
  const present = COMPANIONS.filter((suffix) => existsSync(`${target}${suffix}`))
  if (present.length > 0 && !force)
    throw new RestoreRefused(`${target} exists; stop the server, then pass --force to replace it (the current database is kept beside it)`)
  if (existsSync(target)) closeExclusively(target)
  const restoring = `${target}.restoring`
  rmSync(restoring, { force: true })
  await backupSqlite(file, restoring)
  let kept: string | null = null
  if (present.length > 0) {
    kept = `${target}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`
    for (const suffix of present) if (existsSync(`${target}${suffix}`)) renameSync(`${target}${suffix}`, `${kept}${suffix}`)
  }
  renameSync(restoring, target)
  return { kept }
}

export class RestoreRefused extends Error {}

/** Refuses a database another process has open, and folds its write-ahead log into it, so the file alone is the whole database. */
function closeExclusively(target: string): void {
  const db = new Database(target, { fileMustExist: true })
  try {
    holdExclusively(db)
    db.pragma('journal_mode = DELETE')
  } catch (error) {
    if (isBusy(error)) throw new RestoreRefused(`${target} is open in another process (a running accord?); stop it first`)
    throw error
  } finally {
    db.close()
  }
  // An exclusive connection does without the shared-memory index, so it leaves the old one behind: an index of a log that is gone.
  if (!existsSync(`${target}-wal`)) rmSync(`${target}-shm`, { force: true })
}
