/**
 * The WAL grown ahead of the commits (server/store/walFile.ts): SQLite reads a preallocated
 * WAL as it reads its own, after a crash too. A crash is the database and WAL files copied
 * while the connection that wrote them is still open (no checkpoint, no clean close), then
 * opened elsewhere, which makes SQLite recover the WAL from the file alone.
 */
import { copyFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { type Db, openDatabase } from '../server/store/openDatabase.js'
import { preallocateWal, WAL_PREALLOCATE_BYTES } from '../server/store/walFile.js'
import { tempDir } from './helpers/server.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function fresh(): { db: Db; file: string } {
  const dir = tempDir()
  dirs.push(dir)
  const file = join(dir, 'accord.db')
  const db = openDatabase(file)
  // Nothing is checkpointed by itself: every row below lives in the WAL only.
  db.pragma('wal_autocheckpoint = 0')
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  return { db, file }
}

function insert(db: Db, from: number, count: number): void {
  const statement = db.prepare('INSERT INTO rows (id, data) VALUES (?, ?)')
  for (let i = from; i < from + count; i++) db.transaction(() => statement.run(i, Buffer.alloc(3000, i)))()
}

/** The rows a process opening the files left by a crash finds. */
function afterCrash(file: string): number[] {
  const dir = tempDir()
  dirs.push(dir)
  const copy = join(dir, 'copy.db')
  copyFileSync(file, copy)
  copyFileSync(`${file}-wal`, `${copy}-wal`)
  const db = new Database(copy)
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    return db
      .prepare<[], { id: number }>('SELECT id FROM rows ORDER BY id')
      .all()
      .map((r) => r.id)
  } finally {
    db.close()
  }
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

const walSize = (file: string) => statSync(`${file}-wal`).size

describe('a preallocated WAL', () => {
  it('is grown to its size; commits after it overwrite the zeros, and every one is read back after a crash', () => {
    const { db, file } = fresh()
    insert(db, 0, 20)
    expect(walSize(file)).toBeLessThan(WAL_PREALLOCATE_BYTES)
    expect(preallocateWal(db, file)).toBe(true)
    expect(walSize(file)).toBe(WAL_PREALLOCATE_BYTES)
    insert(db, 20, 20)
    expect([walSize(file), afterCrash(file)]).toEqual([WAL_PREALLOCATE_BYTES, ids(0, 40)])
    db.close()
  })

  it('keeps its size when a checkpoint restarts it from the start, and a crash then loses nothing either', () => {
    const { db, file } = fresh()
    preallocateWal(db, file)
    insert(db, 0, 200)
    const [checkpoint] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[]
    expect(checkpoint!.checkpointed).toBe(checkpoint!.log)
    // The next commit restarts the WAL at its start, leaving older frames (then zeros) after it.
    insert(db, 200, 5)
    expect([walSize(file), afterCrash(file)]).toEqual([WAL_PREALLOCATE_BYTES, ids(0, 205)])
    db.close()
  })

  it('a WAL already as large is left as it is; an in-memory database has none', () => {
    const { db, file } = fresh()
    preallocateWal(db, file, 64 * 1024)
    insert(db, 0, 100)
    const grown = walSize(file)
    expect(grown).toBeGreaterThan(64 * 1024)
    expect(preallocateWal(db, file, 64 * 1024)).toBe(true)
    expect([walSize(file), afterCrash(file)]).toEqual([grown, ids(0, 100)])
    db.close()
    const memory = openDatabase(':memory:')
    expect(preallocateWal(memory, ':memory:')).toBe(false)
    memory.close()
  })
})
