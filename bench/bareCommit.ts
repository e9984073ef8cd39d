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

/** Times `commits` commits of a 40-byte row in a fresh database, one after the other; the durations in ms. */
export function bareCommits(commits: number): Promise<number[]> {
  return withBareDatabase(async (commit) => {
    const times: number[] = []
    for (let i = 0; i < WARMUP_COMMITS + commits; i++) {
      const time = commit()
      if (i >= WARMUP_COMMITS) times.push(time)
    }
    return times
  })
}

/**
 * Times `commits` commits as `bareCommits` does, but one every `intervalMs`, the pace of a
 * workload's updates. On the development machine's virtual disk a commit after some idle time
 * takes several times as long as one right after another (0.3 ms back to back, about 1 ms at
 * 30 per second, with the CPU busy or not): the floor of a server that commits each update
 * as it comes is this one, not the back-to-back figure.
 */
export function pacedBareCommits(commits: number, intervalMs: number): Promise<number[]> {
  return withBareDatabase(async (commit) => {
    for (let i = 0; i < WARMUP_COMMITS; i++) commit()
    const times: number[] = []
    for (let i = 0; i < commits; i++) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
      times.push(commit())
    }
    return times
  })
}

async function withBareDatabase<T>(fn: (commit: () => number) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-bench-bare-'))
  const db = openBare(dir)
  try {
    return await fn(committer(db))
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function openBare(dir: string): Database.Database {
  const db = new Database(join(dir, 'bare.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  return db
}

/** One commit of a fresh 40-byte row; its duration in ms. */
function committer(db: Database.Database): () => number {
  const insert = db.prepare('INSERT INTO rows (data) VALUES (?)')
  const commit = db.transaction((data: Buffer) => insert.run(data))
  return () => {
    const data = randomBytes(40)
    const startedAt = performance.now()
    commit.immediate(data)
    return performance.now() - startedAt
  }
}

/** All the samples of a run's bare commits, and their median and 99th percentile. */
export interface BareCommit {
  samples: number
  medianMs: number | null
  p99Ms: number | null
  /** Paced commits: the time between two. */
  intervalMs?: number
}

export function summarize(times: number[], intervalMs?: number): BareCommit {
  return { samples: times.length, medianMs: percentile(times, 50), p99Ms: percentile(times, 99), ...(intervalMs ? { intervalMs } : {}) }
}
