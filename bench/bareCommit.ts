/**
 * The floor of a durable write on this machine's disk: a bare better-sqlite3 commit of one
 * small row (WAL, `synchronous=FULL`, BEGIN IMMEDIATE / INSERT / COMMIT, one after the
 * other) in a temporary file beside the servers' data (the same `tmpdir()` folder, so the
 * same disk). The benchmark measures it in the same run as the servers, and reads Accord's
 * fan-out overhead over the peers in units of it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { percentile } from './client.js'

/** Unmeasured commits first: the first ones pay for creating the file and compiling the statement. */
const WARMUP_COMMITS = 20

/** Times `commits` commits of a 40-byte row in a fresh database; the durations in ms. */
export function bareCommits(commits: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'accord-bench-bare-'))
  const db = new Database(join(dir, 'bare.db'))
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    const insert = db.prepare('INSERT INTO rows (data) VALUES (?)')
    const commit = db.transaction((data: Buffer) => insert.run(data))
    const times: number[] = []
    for (let i = 0; i < WARMUP_COMMITS + commits; i++) {
      const data = randomBytes(40)
      const startedAt = performance.now()
      commit.immediate(data)
      if (i >= WARMUP_COMMITS) times.push(performance.now() - startedAt)
    }
    return times
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** All the samples of a run's bare commits, and their median and 99th percentile. */
export interface BareCommit {
  samples: number
  medianMs: number | null
  p99Ms: number | null
}

export function summarize(times: number[]): BareCommit {
  return { samples: times.length, medianMs: percentile(times, 50), p99Ms: percentile(times, 99) }
}
