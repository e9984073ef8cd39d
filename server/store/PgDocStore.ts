/**
 * The document store on PostgreSQL: the update log per document, snapshots, history, the
 * Yjs client ids' authors and the projection rows, with the SQLite store's semantics (one
 * contract suite runs against both, test/docstore.contract.test.ts). The tables are made by
 * migrations 3 and 8 of server/pg/migrations.ts.
 *
 * - Each `append` is one transaction (the caller groups updates into it), acknowledged once
 *   PostgreSQL answered COMMIT with `synchronous_commit = on` (the pool sets it): on disk.
 *   Appends run one after the other, so they complete in the order they were made.
 * - A document's log is numbered by its own counter (`docs.last_seq`), advanced under the
 *   document's row lock in the appending transaction: numbers follow commit order, so a
 *   snapshot covering the log up to a number never deletes an update committed after it.
 * - A load is one statement, hence one snapshot of the database: a compaction committed by
 *   another process cannot fall between reading the snapshot and reading the log.
 * - An append whose connection broke may or may not have committed (lost at COMMIT). Each
 *   append has an id, inserted first in its transaction (`doc_appends`), and is tried again
 *   with it: the retry's insert waits for the earlier try if that is still running, then
 *   either finds the id (the append landed: nothing is written twice) or writes everything
 *   (it did not: nothing is lost). An append that gives up while its outcome is unknown
 *   rejects, and its documents' next load first waits for that outcome the same way, so a
 *   load never reads before a COMMIT that lands after it.
 */
import { createHash, randomUUID } from 'node:crypto'
import { failedToConnect, inTransaction } from '../pg/inTransaction.js'
import type { Pool, PoolClient } from '../pg/openPool.js'
import { RETRY_CODES, backoff, outcomeUnknown, sqlState } from '../pg/retry.js'
import type { DocStore, LoadedDoc, OverwrittenPart, PersistEntry, ProjectionRow, StoredUpdate } from './DocStore.js'
import { type LastEntry, entryParts, extendsLast, parseOverwrites, storedOverwrites } from './historyRuns.js'
import { upsertShape, upsertSql, upsertValues } from './upsertSql.js'

/** Milliseconds since the epoch by PostgreSQL's clock. */
const NOW_MS = '(extract(epoch FROM statement_timestamp()) * 1000)::bigint'

/** How long append ids are kept; they matter only while their append is being tried. */
const APPEND_ID_RETENTION_MS = 60 * 60_000
/** How often old append ids are deleted (after an append, never on its path). */
const PRUNE_EVERY_MS = 5 * 60_000
/** Refused while waiting for a lock (`lock_timeout`, set on retries): tried again. */
const LOCK_NOT_AVAILABLE = '55P03'

/** The hot statements, prepared once per connection (node-postgres named queries). */
const SQL = {
  load: `SELECT (SELECT data FROM doc_snapshots WHERE doc = $1) AS snapshot,
      ARRAY(SELECT data FROM doc_updates WHERE doc = $1 ORDER BY seq) AS updates,
      ARRAY(SELECT client FROM doc_clients WHERE doc = $1 ORDER BY client) AS clients,
      ARRAY(SELECT user_id FROM doc_clients WHERE doc = $1 ORDER BY client) AS users`,
  // Records the append's id (waiting for a try of the same append still running), then locks
  // every document of the append, in name order (two processes appending to the same
  // documents cannot deadlock), and takes `n` numbers of each: the last is returned. No row
  // comes back when the id was there already: an earlier try of this append committed.
  reserve: `WITH appended AS (INSERT INTO doc_appends (id, at) VALUES ($3, ${NOW_MS}) ON CONFLICT DO NOTHING RETURNING id)
    INSERT INTO docs (doc, last_seq) SELECT doc, n FROM unnest($1::text[], $2::bigint[]) AS t(doc, n), appended ORDER BY doc
    ON CONFLICT (doc) DO UPDATE SET last_seq = docs.last_seq + excluded.last_seq RETURNING doc, last_seq`,
  // Waits for a try of the append still running, and takes its id if no try committed.
  settle: `INSERT INTO doc_appends (id, at) VALUES ($1, ${NOW_MS}) ON CONFLICT DO NOTHING`,
  prune: `DELETE FROM doc_appends WHERE at < ${NOW_MS} - $1`,
  insertUpdates: `INSERT INTO doc_updates (doc, seq, data, author, at)
    SELECT $1, $2 + u.n, u.data, u.author, u.at FROM unnest($3::bytea[], $4::text[], $5::bigint[]) WITH ORDINALITY AS u(data, author, at, n)`,
  // The first author of a client id stays (within one statement too: the first row wins).
  insertClients: `INSERT INTO doc_clients (doc, client, user_id) SELECT $1, c, u FROM unnest($2::bigint[], $3::text[]) AS t(c, u)
    ON CONFLICT DO NOTHING`,
  lastHistory: `SELECT seq, at, user_id, fields, overwritten, (SELECT min(seq) FROM history WHERE doc = $1) AS first
    FROM history WHERE doc = $1 ORDER BY seq DESC LIMIT 1`,
  insertHistory: 'INSERT INTO history (doc, at, user_id, fields, overwritten) VALUES ($1, $2, $3, $4, $5)',
  extendHistory: 'UPDATE history SET at = $1 WHERE seq = $2',
  // `$3` is the part as JSON (a JSON string's text): compared with the elements' text as
  // written, the parts are never decoded, so a part holding U+0000 (\u0000, which jsonb and
  // text refuse) is found like any other instead of failing the append.
  lastChangeBy: `SELECT seq, overwritten FROM history
    WHERE doc = $1 AND user_id = $2 AND EXISTS (SELECT FROM json_array_elements(fields::json) AS part WHERE part::text = $3)
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

export interface PgDocStoreOptions {
  /** Tries of one append whose connection broke (or that lost a deadlock) before it rejects. @default 4 */
  maxAttempts?: number
  /** Backoff before the second try, doubled for each later one, with full jitter. @default 50 */
  backoffMs?: number
  /**
   * How long a retry, or a load settling an append that gave up, waits for an earlier try
   * still holding the append's id (a connection the server has not yet seen break). @default 5000
   */
  lockTimeoutMs?: number
}

export class PgDocStore implements DocStore {
  /** The append committed last (or refused): the next one starts after it. */
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  /** Prepared statement names of projection upserts, by shape. */
  private readonly upserts = new Map<string, { name: string; text: string }>()
  /** Ids of appends that gave up not knowing whether they committed, by document (see `settle`). */
  private readonly unsettled = new Map<string, Set<string>>()
  private prunedAt = Date.now()
  private readonly maxAttempts: number
  private readonly backoffMs: number
  private readonly lockTimeoutMs: number

  /** The pool stays the caller's to end. */
  constructor(
    private readonly pool: Pool,
    options: PgDocStoreOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4
    this.backoffMs = options.backoffMs ?? 50
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5000
  }

  /** Rejects if the database cannot be read, or if an append of the document that gave up is still undecided. */
  async load(docName: string): Promise<LoadedDoc> {
    await this.settle(docName)
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

  /**
   * Commits after the appends made before it, in one transaction, tried again (at most
   * `maxAttempts` times) when its connection broke or it lost a deadlock; rejects if it could
   * not be written (at once when no connection can be opened), or if whether it was could
   * not be found out.
   */
  append(entries: PersistEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    const written = this.tail.then(() => (entries.length > 0 ? this.commit(randomUUID(), entries) : undefined))
    this.tail = written.catch(() => undefined)
    return written
  }

  private async commit(id: string, entries: PersistEntry[]): Promise<void> {
    let uncertain = false
    for (let attempt = 1; ; attempt++) {
      try {
        await inTransaction(this.pool, async (client) => {
          if (attempt > 1) await this.limitLockWait(client)
          await this.write(client, id, entries)
        })
        this.pruneNowAndThen()
        return
      } catch (error) {
        // A try that could not even connect wrote nothing and tells nothing new: the server is
        // unreachable, so the append gives up now (its documents reload once it answers).
        const unknown = outcomeUnknown(error) && !failedToConnect(error)
        uncertain ||= unknown
        const code = sqlState(error)
        if (attempt >= this.maxAttempts || !(unknown || RETRY_CODES.has(code) || code === LOCK_NOT_AVAILABLE)) {
          if (uncertain) for (const { docName } of entries) this.unsettledOf(docName).add(id)
          throw error
        }
        await backoff(attempt, this.backoffMs)
      }
    }
  }

  /**
   * Waits until no try of an append of the document that gave up can still commit (the
   * insert of its id waits for a try holding it), so a load reads after its outcome.
   */
  private async settle(docName: string): Promise<void> {
    const ids = this.unsettled.get(docName)
    if (!ids) return
    for (const id of ids) {
      await inTransaction(this.pool, async (client) => {
        await this.limitLockWait(client)
        await client.query({ name: 'docstore-settle', text: SQL.settle, values: [id] })
      })
      ids.delete(id)
    }
    this.unsettled.delete(docName)
  }

  private unsettledOf(docName: string): Set<string> {
    let ids = this.unsettled.get(docName)
    if (!ids) this.unsettled.set(docName, (ids = new Set()))
    return ids
  }

  private async limitLockWait(client: PoolClient): Promise<void> {
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(this.lockTimeoutMs))}`)
  }

  /** Deletes append ids past their retention, every `PRUNE_EVERY_MS`, beside the appends rather than in them. */
  private pruneNowAndThen(): void {
    const now = Date.now()
    if (now - this.prunedAt < PRUNE_EVERY_MS) return
    this.prunedAt = now
    void this.pool.query({ name: 'docstore-prune', text: SQL.prune, values: [APPEND_ID_RETENTION_MS] }).catch(() => undefined)
  }

  /** Waits for the appends in progress; later ones reject. */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
  }

  /**
   * Always null: there is no writer to lose. An append that fails (the server restarted, a
   * connection broke) rejects alone, and the next one runs on a new connection; whether the
   * database answers is the backend's `ping` (readiness).
   */
  failure(): Error | null {
    return null
  }

  private async write(client: PoolClient, id: string, entries: PersistEntry[]): Promise<void> {
    const counts = new Map<string, number>()
    for (const { docName, updates } of entries) counts.set(docName, (counts.get(docName) ?? 0) + updates.length)
    const reserved = await run<{ doc: string; last_seq: number }>(client, 'reserve', [[...counts.keys()], [...counts.values()], id])
    // An earlier try of this append committed (its COMMIT's reply was lost): it is all there.
    if (reserved.length === 0) return
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
    const [entry] = await run<{ seq: number; overwritten: string | null }>(client, 'lastChangeBy', [
      docName,
      lost.keptBy,
      JSON.stringify(lost.part),
    ])
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
    await client.query({ ...statement, values: upsertValues(row, columns) })
  }
}

async function run<R extends object = object>(client: PoolClient, statement: Statement, values: unknown[]): Promise<R[]> {
  return (await client.query<R>({ name: `docstore-${statement}`, text: SQL[statement], values })).rows
}
