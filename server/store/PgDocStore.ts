/**
 * The document store on PostgreSQL: the update log per document, snapshots, history, the
 * Yjs client ids' authors and the projection rows, with the SQLite store's semantics (one
 * contract suite runs against both, test/docstore.contract.test.ts). The tables are made by
 * migration 2 of server/pg/migrations.ts.
 *
 * - Each `append` is one transaction (the caller groups updates into it), acknowledged once
 *   PostgreSQL answered COMMIT with `synchronous_commit = on` (the pool sets it): on disk.
 *   Appends run one after the other, so they complete in the order they were made.
 * - A document's log is numbered by its own counter (`docs.last_seq`), advanced under the
 *   document's row lock in the appending transaction: numbers follow commit order, so a
 *   snapshot covering the log up to a number never deletes an update committed after it.
 * - A load is one statement, hence one snapshot of the database: a compaction committed by
 *   another process cannot fall between reading the snapshot and reading the log.
 */
import { createHash } from 'node:crypto'
import { inTransaction } from '../pg/inTransaction.js'
import type { Pool, PoolClient } from '../pg/openPool.js'
import type { DocStore, LoadedDoc, OverwrittenPart, PersistEntry, ProjectionRow, StoredUpdate } from './DocStore.js'
import { type LastEntry, entryParts, extendsLast, parseOverwrites, storedOverwrites } from './historyRuns.js'
import { upsertShape, upsertSql } from './upsertSql.js'

/** The hot statements, prepared once per connection (node-postgres named queries). */
const SQL = {
  load: `SELECT (SELECT data FROM doc_snapshots WHERE doc = $1) AS snapshot,
      ARRAY(SELECT data FROM doc_updates WHERE doc = $1 ORDER BY seq) AS updates,
      ARRAY(SELECT client FROM doc_clients WHERE doc = $1 ORDER BY client) AS clients,
      ARRAY(SELECT user_id FROM doc_clients WHERE doc = $1 ORDER BY client) AS users`,
  // Locks every document of the append, in name order (two processes appending to the same
  // documents cannot deadlock), and takes `n` numbers of each: the last is returned.
  reserve: `INSERT INTO docs (doc, last_seq) SELECT doc, n FROM unnest($1::text[], $2::bigint[]) AS t(doc, n) ORDER BY doc
    ON CONFLICT (doc) DO UPDATE SET last_seq = docs.last_seq + excluded.last_seq RETURNING doc, last_seq`,
  insertUpdates: `INSERT INTO doc_updates (doc, seq, data, author, at)
    SELECT $1, $2 + u.n, u.data, u.author, u.at FROM unnest($3::bytea[], $4::text[], $5::bigint[]) WITH ORDINALITY AS u(data, author, at, n)`,
  // The first author of a client id stays (within one statement too: the first row wins).
  insertClients: `INSERT INTO doc_clients (doc, client, user_id) SELECT $1, c, u FROM unnest($2::bigint[], $3::text[]) AS t(c, u)
    ON CONFLICT DO NOTHING`,
  lastHistory: `SELECT seq, at, user_id, fields, overwritten, (SELECT min(seq) FROM history WHERE doc = $1) AS first
    FROM history WHERE doc = $1 ORDER BY seq DESC LIMIT 1`,
  insertHistory: 'INSERT INTO history (doc, at, user_id, fields, overwritten) VALUES ($1, $2, $3, $4, $5)',
  extendHistory: 'UPDATE history SET at = $1 WHERE seq = $2',
  lastChangeBy: `SELECT seq, overwritten FROM history WHERE doc = $1 AND user_id = $2 AND fields::jsonb ? $3
    ORDER BY seq DESC LIMIT 1`,
  setOverwritten: 'UPDATE history SET overwritten = $1 WHERE seq = $2',
  upsertSnapshot: `INSERT INTO doc_snapshots (doc, data, upto, at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (doc) DO UPDATE SET data = excluded.data, upto = excluded.upto, at = excluded.at`,
  deleteUpTo: 'DELETE FROM doc_updates WHERE doc = $1 AND seq <= $2',
} as const

type Statement = keyof typeof SQL

interface LoadRow {
  snapshot: Buffer | null
  updates: Buffer[]
  /** bigint[]: node-postgres reads the array's elements as strings. */
  clients: string[]
  users: string[]
}

export class PgDocStore implements DocStore {
  /** The append committed last (or refused): the next one starts after it. */
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  /** Prepared statement names of projection upserts, by shape. */
  private readonly upserts = new Map<string, { name: string; text: string }>()

  /** The pool stays the caller's to end. */
  constructor(private readonly pool: Pool) {}

  async load(docName: string): Promise<LoadedDoc> {
    const { rows } = await this.pool.query<LoadRow>({ name: 'docstore-load', text: SQL.load, values: [docName] })
    const { snapshot, updates, clients, users } = rows[0]!
    let loggedBytes = 0
    for (const update of updates) loggedBytes += update.byteLength
    return {
      updates: snapshot ? [snapshot, ...updates] : updates,
      loggedCount: updates.length,
      loggedBytes,
      clientAuthors: clients.map((client, i): [number, string] => [Number(client), users[i]!]),
    }
  }

  /** Commits after the appends made before it, in one transaction; rejects, with nothing written, if any statement fails. */
  append(entries: PersistEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    const written = this.tail.then(() =>
      entries.length > 0 ? inTransaction(this.pool, (client) => this.write(client, entries)) : undefined,
    )
    this.tail = written.catch(() => undefined)
    return written
  }

  /** Waits for the appends in progress; later ones reject. */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
  }

  /**
   * Always null: there is no writer to lose. An append that fails (the server restarted, a
   * connection broke) rejects alone, and the next one runs on a new connection.
   */
  failure(): Error | null {
    return null
  }

  private async write(client: PoolClient, entries: PersistEntry[]): Promise<void> {
    const counts = new Map<string, number>()
    for (const { docName, updates } of entries) counts.set(docName, (counts.get(docName) ?? 0) + updates.length)
    const reserved = await run<{ doc: string; last_seq: number }>(client, 'reserve', [[...counts.keys()], [...counts.values()]])
    /** Each document's last number given out so far in this append. */
    const seqs = new Map(reserved.map((row) => [row.doc, row.last_seq - counts.get(row.doc)!]))
    for (const entry of entries) {
      const { docName, updates } = entry
      const before = seqs.get(docName)!
      if (updates.length > 0) {
        await run(client, 'insertUpdates', [
          docName,
          before,
          updates.map((u) => u.update),
          updates.map((u) => u.author),
          updates.map((u) => u.at),
        ])
        seqs.set(docName, before + updates.length)
      }
      const clients = updates.flatMap((u) => (u.author === null ? [] : (u.clients ?? []).map((c): [number, string] => [c, u.author!])))
      if (clients.length > 0) await run(client, 'insertClients', [docName, clients.map(([c]) => c), clients.map(([, u]) => u)])
      for (const u of updates) if (u.changed.length > 0 || u.overwritten?.length) await this.recordHistory(client, docName, u)
      if (entry.snapshot) {
        const upto = seqs.get(docName)!
        await run(client, 'upsertSnapshot', [docName, entry.snapshot, upto, Date.now()])
        await run(client, 'deleteUpTo', [docName, upto])
      }
      if (entry.projection) await this.upsert(client, entry.projection)
    }
  }

  /** As SqliteDocStore's: one entry per run of edits (see `extendsLast`), lost values on the kept change's entry. */
  private async recordHistory(client: PoolClient, docName: string, u: StoredUpdate): Promise<void> {
    const own: OverwrittenPart[] = []
    for (const lost of u.overwritten ?? [])
      if (lost.keptBy === u.author || !(await this.addToLastChange(client, docName, lost))) own.push(lost)
    if (u.changed.length === 0 && own.length === 0) return
    const [last] = await run<LastEntry>(client, 'lastHistory', [docName])
    if (extendsLast(last, u, own)) await run(client, 'extendHistory', [Math.max(last.at, u.at), last.seq])
    else
      await run(client, 'insertHistory', [docName, u.at, u.author, entryParts(u, own), own.length > 0 ? storedOverwrites([], own) : null])
  }

  /** Adds a lost value to the latest entry of the user whose value was kept, for that part; false if there is none. */
  private async addToLastChange(client: PoolClient, docName: string, lost: OverwrittenPart): Promise<boolean> {
    if (lost.keptBy === null) return false
    const [entry] = await run<{ seq: number; overwritten: string | null }>(client, 'lastChangeBy', [docName, lost.keptBy, lost.part])
    if (!entry) return false
    await run(client, 'setOverwritten', [storedOverwrites(parseOverwrites(entry.overwritten), [lost]), entry.seq])
    return true
  }

  /**
   * Upserts a projection row, with a statement prepared once per connection for each table
   * and set of columns. Its name is a hash of its text: two stores on one pool that name the
   * same statement name the same text (node-postgres refuses one name for two texts).
   */
  private async upsert(client: PoolClient, row: ProjectionRow): Promise<void> {
    const columns = Object.keys(row.values)
    const shape = upsertShape(row, columns)
    let statement = this.upserts.get(shape)
    if (!statement) {
      const text = upsertSql(row, columns, 'dollar')
      statement = { name: `docstore-upsert-${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text }
      this.upserts.set(shape, statement)
    }
    await client.query({ ...statement, values: columns.map((c) => row.values[c] ?? null) })
  }
}

async function run<R extends object = object>(client: PoolClient, statement: Statement, values: unknown[]): Promise<R[]> {
  return (await client.query<R>({ name: `docstore-${statement}`, text: SQL[statement], values })).rows
}
