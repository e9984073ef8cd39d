/**
 * What a relay reads from PostgreSQL to fill a gap in what the bus brought it: a document's
 * committed updates after a log number (docs/cluster.md, "Messages between members").
 *
 * The document store numbers each document's log in commit order (`doc_updates.seq`, from
 * `docs.last_seq`), and a compaction writes a snapshot of the state up to `upto` and deletes
 * the updates up to it, in one transaction. So the updates after `after` are either all in the
 * log, or, once a compaction passed `after`, the snapshot plus the updates after its `upto`.
 * Both are read by one statement, hence from one snapshot of the database: a compaction
 * committed meanwhile cannot fall between reading the snapshot and reading the log.
 */
import type { Pool } from '../pg/openPool.js'

/** The committed updates of a document after some number, as the log holds them now. */
export interface LogTail {
  /**
   * Present when a compaction deleted updates after the number asked for: the document's
   * state up to `upto` (which covers them), to apply before `updates`.
   */
  snapshot?: { upto: number; data: Uint8Array }
  /** The logged updates after the number asked for (or after the snapshot), in order. */
  updates: { seq: number; data: Uint8Array }[]
}

const READ_LOG = `WITH s AS (SELECT upto, data FROM doc_snapshots WHERE doc = $1)
  SELECT true AS snapshot, upto AS seq, data FROM s WHERE upto > $2
  UNION ALL
  (SELECT false, seq, data FROM doc_updates WHERE doc = $1 AND seq > greatest($2, coalesce((SELECT upto FROM s), 0)) ORDER BY seq)
  ORDER BY snapshot DESC, seq`

/** The updates of `doc` committed after number `after` (0: the whole document). */
export async function readLogAfter(pool: Pool, doc: string, after: number): Promise<LogTail> {
  const { rows } = await pool.query<{ snapshot: boolean; seq: number; data: Buffer }>({
    name: 'cluster-read-log',
    text: READ_LOG,
    values: [doc, after],
  })
  const tail: LogTail = { updates: [] }
  for (const row of rows) {
    if (row.snapshot) tail.snapshot = { upto: row.seq, data: row.data }
    else tail.updates.push({ seq: row.seq, data: row.data })
  }
  return tail
}

/** The last number of `doc`'s log (0: nothing committed yet). */
export async function readLogHead(pool: Pool, doc: string): Promise<number> {
  const { rows } = await pool.query<{ last_seq: string | number }>({
    name: 'cluster-read-log-head',
    text: 'SELECT last_seq FROM docs WHERE doc = $1',
    values: [doc],
  })
  return Number(rows[0]?.last_seq ?? 0)
}
