/**
 * The WAL file's size, set ahead of the commits. With `synchronous=FULL` every commit ends in
 * an fsync of the WAL; while the WAL grows, each of those also has to make its new size
 * durable (a filesystem journal commit on ext4), and a commit takes two to four times as
 * long as one that overwrites blocks the file already has. SQLite never shrinks a WAL
 * (no TRUNCATE checkpoint, no `journal_size_limit` here), but deletes it when the last
 * connection closes: every start of the server used to grow it again, one commit at a time.
 */
import { closeSync, fstatSync, fsyncSync, openSync, writeSync } from 'node:fs'
import type { Db } from './openDatabase.js'

/**
 * What the WAL is grown to: about twice what it holds at SQLite's automatic checkpoint
 * (1,000 pages of 4 KiB, each with a 24-byte frame header), so that a batch committed past
 * that point, written before the checkpoint runs, still lands on blocks already there.
 */
export const WAL_PREALLOCATE_BYTES = 8 * 1024 * 1024

const CHUNK_BYTES = 1024 * 1024

/**
 * Grows the WAL of `file` to `bytes` with zeros and makes that durable, while holding the
 * database's write lock (BEGIN IMMEDIATE), so that no connection, in this process or
 * another, appends a frame meanwhile. Only bytes past the file's end are written: SQLite
 * reads frames from the start and stops at the first whose salt does not match the header
 * (zeros never do), exactly as it ignores the frames of an earlier generation that it left
 * past the end of the current one. A WAL already as large is left as it is.
 *
 * Only a speed-up: false, and the WAL as it was or partly grown, when the file could not be
 * grown (a full disk); the commits then grow it themselves, as before.
 */
export function preallocateWal(db: Db, file: string, bytes = WAL_PREALLOCATE_BYTES): boolean {
  if (file === ':memory:') return false
  return db
    .transaction(() => {
      // The connection has read the database in WAL mode, which opened (or created) the WAL.
      // Our descriptor is closed below: SQLite holds no POSIX lock on the WAL itself (its
      // locks are on the database and -shm files), so closing it releases none of SQLite's.
      let fd: number
      try {
        fd = openSync(`${file}-wal`, 'r+')
      } catch {
        return false
      }
      try {
        const size = fstatSync(fd).size
        if (size >= bytes) return true
        const zeros = Buffer.alloc(CHUNK_BYTES)
        for (let at = size; at < bytes; at += CHUNK_BYTES) writeSync(fd, zeros, 0, Math.min(CHUNK_BYTES, bytes - at), at)
        fsyncSync(fd)
        return true
      } catch {
        return false
      } finally {
        closeSync(fd)
      }
    })
    .immediate()
}
