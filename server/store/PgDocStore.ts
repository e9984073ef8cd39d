/**
 * The document store on PostgreSQL: the update log per document, snapshots, history, the
 * Yjs client ids' authors and the projection rows, with the SQLite store's semantics (one
 * contract suite runs against both, test/docstore.contract.test.ts). The tables are made by
 * migrations 3 and 7 of server/pg/migrations.ts.
 *
 * - Each `append` is one transaction (the caller groups updates into it), acknowledged once
 *   PostgreSQL answered COMMIT with `synchronous_commit = on` (the pool sets it): on disk.
 *   Appends run one after the other, so they complete in the order they were made.
 * - An append costs the same few round trips whatever the number of documents it carries
 *   (see `write`): each kind of row is written for all of them by one statement, and the
 *   history rules, which SqliteDocStore applies entry by entry against the table, are worked
 *   out here (historyBatch.ts) from the entries they look at, read once after the documents
 *   are locked, or known from this store's own last append of a document.
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
 *   load never reads before a COMMIT that lands after it. A statement the server does not
 *   answer within the pool's query timeout (it hangs) is such a case, given up at once.
 * - With a `fence` (a cluster member, docs/cluster.md), every append first proves, inside its
 *   transaction and before it writes, that this process may still write each of its
 *   documents; a refusal rolls the whole append back and rejects with the fence's error.
 */
import { createHash, randomUUID } from 'node:crypto'
import { failedToConnect, inTransaction } from '../pg/inTransaction.js'
import type { Pool, PoolClient } from '../pg/openPool.js'
import { RETRY_CODES, backoff, outcomeUnknown, queryTimedOut, sqlState } from '../pg/retry.js'
import type { AppendedLog, DocStore, LoadedDoc, PersistEntry } from './DocStore.js'
import {
  type HistoryReads,
  type HistoryState,
  type HistoryWrites,
  type LatestEntry,
  type StoredEntry,
  historyReads,
  historyWrites,
} from './historyBatch.js'
import { type ShapeBatch, upsertManySql, upsertRounds, upsertShape } from './upsertSql.js'

/** Milliseconds since the epoch by PostgreSQL's clock. */
const NOW_MS = '(extract(epoch FROM statement_timestamp()) * 1000)::bigint'

/** How long append ids are kept; they matter only while their append is being tried. */
const APPEND_ID_RETENTION_MS = 60 * 60_000
/** How often old append ids are deleted (after an append, never on its path). */
const PRUNE_EVERY_MS = 5 * 60_000
/** Documents whose latest history entry a store keeps (see `historyState`): the most recently appended. */
const LATEST_KEPT = 10_000
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
  // Each document's latest history entry (with the seq of its first), then for each lookup
  // (`$2`–`$4`: document, person, part) that person's latest entry naming the part. The part
  // is compared as JSON text (a JSON string, as written) with the entries' parts, which are
  // never decoded: a part holding U+0000 (`\u0000`, which text and jsonb refuse) is found
  // like any other instead of failing the append.
  readHistory: `SELECT NULL::bigint AS lookup, d.doc, h.*, (SELECT min(seq) FROM history WHERE doc = d.doc) AS first
      FROM unnest($1::text[]) AS d(doc)
      CROSS JOIN LATERAL (SELECT seq, at, user_id, fields, overwritten FROM history WHERE doc = d.doc ORDER BY seq DESC LIMIT 1) AS h
    UNION ALL
    SELECT k.n, k.doc, h.*, NULL
      FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(doc, user_id, part, n)
      CROSS JOIN LATERAL (SELECT seq, at, user_id, fields, overwritten FROM history
        WHERE doc = k.doc AND user_id = k.user_id AND EXISTS (SELECT FROM json_array_elements(fields::json) AS p WHERE p::text = k.part)
        ORDER BY seq DESC LIMIT 1) AS h`,
} as const

/**
 * What an append writes, each kind for all its documents at once: one CTE each of the one
 * statement that writes the append (one round trip whatever the number of documents), left
 * out when it has nothing to write. Parameters are numbered from `$1` in each and renumbered
 * in the statement; each is an array, one element per row. `clients`: the first row of a
 * client id wins, in one statement as across them. `entries` are numbered in the order
 * given. `changed`: stored entries whose time or lost values changed. `snapshots` and
 * `compacted`: each compacting document's snapshot and the deletion of its log up to it.
 * Every CTE sees the database as it was before the statement, so the deletion does not see
 * the updates inserted beside it: the caller leaves out those a snapshot covers.
 */
const WRITES = {
  updates:
    'INSERT INTO doc_updates (doc, seq, data, author, at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[], $5::bigint[])',
  clients:
    'INSERT INTO doc_clients (doc, client, user_id) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING',
  entries: `INSERT INTO history (doc, at, user_id, fields, overwritten) SELECT doc, at, user_id, fields, overwritten
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(doc, at, user_id, fields, overwritten, n)
    ORDER BY n RETURNING doc, seq`,
  changed: `UPDATE history SET at = c.at, overwritten = c.overwritten
    FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS c(seq, at, overwritten) WHERE history.seq = c.seq`,
  snapshots: `INSERT INTO doc_snapshots (doc, data, upto, at) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bigint[])
    ON CONFLICT (doc) DO UPDATE SET data = excluded.data, upto = excluded.upto, at = excluded.at`,
  compacted: `DELETE FROM doc_updates USING unnest($1::text[], $2::bigint[]) AS s(doc, upto)
    WHERE doc_updates.doc = s.doc AND doc_updates.seq <= s.upto`,
} as const

/** The numbers the history entries inserted for a document got (returned by the write statement). */
interface NumberedEntries {
  doc: string
  first: number
  last: number
}

/** One CTE of an append's write statement: its name, its SQL (parameters from `$1`), and its parameters' arrays. */
interface WritePart {
  name: string
  /** What makes its SQL: the name of a fixed part, a projection's shape. */
  key: string
  sql: () => string
  values: unknown[][]
}

/** The write statement of `parts`: their CTEs, parameters renumbered in order. */
function writeSql(parts: readonly WritePart[]): string {
  let offset = 0
  const ctes = parts.map(({ name, sql, values }) => {
    const at = offset
    offset += values.length
    return `${name} AS (${sql().replace(/\$(\d+)/g, (_, n: string) => `$${at + Number(n)}`)})`
  })
  const numbered = parts.some((part) => part.name === 'entries')
  return `WITH ${ctes.join(',\n')}\n${numbered ? 'SELECT doc, min(seq) AS first, max(seq) AS last FROM entries GROUP BY doc' : 'SELECT'}`
}

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
  /**
   * Runs first in every append's transaction with the names of the documents it writes, and
   * resolves with a refusal when this process may no longer write one of them (a cluster
   * member that lost a document). The append then writes nothing and rejects with the
   * refusal at once (it is not tried again). Without it, the store assumes it is the only
   * writer.
   */
  fence?: DocFence
}

/**
 * See `PgDocStoreOptions.fence`: null when the append may go on, the refusal when it may not.
 * A refusal is a value, so that it is never mistaken for a database error worth trying again;
 * a database error (a broken connection) rejects, and the append treats it as any other.
 */
export type DocFence = (client: PoolClient, docs: readonly string[]) => Promise<Error | null>

/** A refusal of the fence, carried out of the transaction (which it rolls back). */
class Refused extends Error {
  constructor(readonly refusal: Error) {
    super(refusal.message)
  }
}

export class PgDocStore implements DocStore {
  /** The append committed last (or refused): the next one starts after it. */
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  /** Write statements, by their parts' keys. */
  private readonly statements = new Map<string, { name: string; text: string }>()
  /** Each document's latest history entry as this store's last append of it left it, with its `last_seq` then, newest last. */
  private readonly latest = new Map<string, { lastSeq: number; entry: LatestEntry | null }>()
  /** Projection tables' column types, by table. */
  private readonly tables = new Map<string, Promise<Map<string, string>>>()
  /** Ids of appends that gave up not knowing whether they committed, by document (see `settle`). */
  private readonly unsettled = new Map<string, Set<string>>()
  private prunedAt = Date.now()
  private readonly maxAttempts: number
  private readonly backoffMs: number
  private readonly lockTimeoutMs: number
  private readonly fence: DocFence | undefined

  /** The pool stays the caller's to end. */
  constructor(
    private readonly pool: Pool,
    options: PgDocStoreOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4
    this.backoffMs = options.backoffMs ?? 50
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5000
    this.fence = options.fence
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
  append(entries: PersistEntry[]): Promise<AppendedLog | void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    const written = this.tail.then(() => (entries.length > 0 ? this.commit(randomUUID(), entries) : undefined))
    this.tail = written.then(
      () => undefined,
      () => undefined,
    )
    return written
  }

  private async commit(id: string, entries: PersistEntry[]): Promise<AppendedLog | undefined> {
    let uncertain = false
    for (let attempt = 1; ; attempt++) {
      try {
        const committed = await inTransaction(this.pool, async (client) => {
          if (attempt > 1) await this.limitLockWait(client)
          // Before anything is written or locked: a claim in progress is waited for first.
          const refusal = await this.fence?.(client, [...new Set(entries.map((entry) => entry.docName))])
          if (refusal) throw new Refused(refusal)
          return this.write(client, id, entries)
        })
        this.pruneNowAndThen()
        return committed?.()
      } catch (error) {
        // Refused by the fence: this try wrote nothing, and no later one would be allowed to.
        // An earlier try whose outcome is unknown is settled by the next load, as below.
        if (error instanceof Refused) {
          if (uncertain) for (const { docName } of entries) this.unsettledOf(docName).add(id)
          throw error.refusal
        }
        // A try that could not even connect wrote nothing and tells nothing new: the server is
        // unreachable, so the append gives up now (its documents reload once it answers). One
        // that the server did not answer in time (the pool's query timeout) may yet commit, but
        // another try now would wait on the same server: it gives up too, its outcome unknown.
        const unknown = outcomeUnknown(error) && !failedToConnect(error)
        uncertain ||= unknown
        const code = sqlState(error)
        const retry = !queryTimedOut(error) && (unknown || RETRY_CODES.has(code) || code === LOCK_NOT_AVAILABLE)
        if (attempt >= this.maxAttempts || !retry) {
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

  /**
   * The append's transaction, four round trips (five when history must be read) whatever
   * the number of documents: BEGIN; the reservation of numbers, which locks the documents;
   * the history entries the rules look at, when they are not known already (read after the
   * locks, so no other process changes them before this commits); one statement writing
   * everything, each kind of row for every document at once; COMMIT. Projection rows whose
   * key two shapes share in one append take one more statement per extra round (none of
   * Accord's kinds does that). Returns what to remember once it committed.
   */
  private async write(client: PoolClient, id: string, entries: PersistEntry[]): Promise<(() => AppendedLog) | undefined> {
    const counts = new Map<string, number>()
    for (const { docName, updates } of entries) counts.set(docName, (counts.get(docName) ?? 0) + updates.length)
    const reserved = await run<{ doc: string; last_seq: number }>(client, 'reserve', [[...counts.keys()], [...counts.values()], id])
    // An earlier try of this append committed (its COMMIT's reply was lost): it is all there.
    if (reserved.length === 0) return undefined
    /** Each document's last number before this append. */
    const before = new Map(reserved.map((row) => [row.doc, row.last_seq - counts.get(row.doc)!]))
    const reads = historyReads(entries)
    const history = historyWrites(entries, reads, await this.historyState(client, reads, before))
    const logs = logParts(entries, before, history)
    const rounds = upsertRounds(entries.flatMap((entry) => (entry.projection ? [entry.projection] : [])))
    let numbered: NumberedEntries[] = []
    for (const [i, round] of (rounds.length > 0 ? rounds : [[]]).entries()) {
      const parts = [...(i === 0 ? logs : []), ...(await this.projectionParts(client, round))]
      if (parts.length === 0) continue
      const { rows } = await client.query<NumberedEntries>({ ...this.writeStatement(parts), values: parts.flatMap((part) => part.values) })
      if (i === 0) numbered = rows
    }
    return () => {
      this.remember(reserved, before, history, numbered)
      const log = new Map<string, { first: number; last: number }>()
      for (const { doc, last_seq: last } of reserved) if (last > before.get(doc)!) log.set(doc, { first: before.get(doc)! + 1, last })
      return log
    }
  }

  /**
   * What the history rules look at: each document's latest entry, known from this store's
   * last append of it when no one appended to it since (its `last_seq` is what that append
   * left: every history write advances it), read otherwise; and the entries lost values go
   * to, always read.
   */
  private async historyState(client: PoolClient, reads: HistoryReads, before: ReadonlyMap<string, number>): Promise<HistoryState> {
    const latest = new Map<string, LatestEntry>()
    const unknown: string[] = []
    for (const doc of reads.docs) {
      const known = this.latest.get(doc)
      if (known?.lastSeq !== before.get(doc)) unknown.push(doc)
      else if (known!.entry) latest.set(doc, known!.entry)
    }
    const found: (StoredEntry | undefined)[] = []
    const { lookups } = reads
    if (unknown.length === 0 && lookups.length === 0) return { latest, found }
    const rows = await run<StoredEntry & { lookup: number | null; doc: string; first: number | null }>(client, 'readHistory', [
      unknown,
      lookups.map((l) => l.doc),
      lookups.map((l) => l.userId),
      lookups.map((l) => JSON.stringify(l.part)),
    ])
    for (const { lookup, doc, first, ...entry } of rows) {
      if (lookup === null) latest.set(doc, { ...entry, first: first! })
      else found[lookup - 1] = entry
    }
    return { latest, found }
  }

  /** After a commit: each document's latest history entry and the `last_seq` it goes with (see `historyState`). */
  private remember(
    reserved: readonly { doc: string; last_seq: number }[],
    before: ReadonlyMap<string, number>,
    history: HistoryWrites,
    numbered: readonly NumberedEntries[],
  ): void {
    const inserted = new Map(numbered.map((row) => [row.doc, row]))
    for (const { doc, last_seq: lastSeq } of reserved) {
      let entry: LatestEntry | null | undefined = history.latest.get(doc)
      if (entry === undefined) {
        // Its history was not looked at: what was known of it still holds, if anything was.
        const known = this.latest.get(doc)
        if (known?.lastSeq === before.get(doc)) entry = known!.entry
        else {
          this.latest.delete(doc)
          continue
        }
      } else if (entry && (entry.seq < 0 || entry.first < 0)) {
        const { first, last } = inserted.get(doc)!
        entry = { ...entry, seq: entry.seq < 0 ? last : entry.seq, first: entry.first < 0 ? first : entry.first }
      }
      this.latest.delete(doc)
      this.latest.set(doc, { lastSeq, entry })
      if (this.latest.size > LATEST_KEPT) this.latest.delete(this.latest.keys().next().value!)
    }
  }

  /**
   * The write statement of `parts`, prepared once per connection for each set of parts. Its
   * name is a hash of its text: two stores on one pool that name the same statement name the
   * same text (node-postgres refuses one name for two texts).
   */
  private writeStatement(parts: readonly WritePart[]): { name: string; text: string } {
    const key = parts.map((part) => part.key).join('\n')
    let statement = this.statements.get(key)
    if (!statement) {
      const text = writeSql(parts)
      statement = { name: `docstore-write-${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text }
      this.statements.set(key, statement)
    }
    return statement
  }

  /** The upserts of one round of projection rows (`upsertRounds`): one part per shape, each column's values an array of its type. */
  private async projectionParts(client: PoolClient, round: readonly ShapeBatch[]): Promise<WritePart[]> {
    const parts: WritePart[] = []
    for (const [i, { row, columns, rows }] of round.entries()) {
      const types = await this.columnTypes(client, row.table)
      parts.push({
        name: `projection${i}`,
        key: upsertShape(row, columns),
        sql: () =>
          upsertManySql(
            row,
            columns,
            columns.map((c) => types.get(c) ?? unknownColumn(row.table, c)),
            1,
          ),
        values: columnsOf(rows, columns),
      })
    }
    return parts
  }

  /** A projection table's column types as the catalog names them (its rows are upserted from arrays of them), read once. */
  private columnTypes(client: PoolClient, table: string): Promise<Map<string, string>> {
    let types = this.tables.get(table)
    if (!types) {
      types = client
        .query<{ name: string; type: string }>(
          `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
          [table],
        )
        .then(({ rows }) => new Map(rows.map((r) => [r.name, r.type])))
      types.catch(() => this.tables.delete(table))
      this.tables.set(table, types)
    }
    return types
  }
}

/** The parts of the write of `entries` but their projection rows: updates, client ids, history, snapshots (those with something to write). */
function logParts(entries: PersistEntry[], before: ReadonlyMap<string, number>, { inserted, changed }: HistoryWrites): WritePart[] {
  /** Each document's last number given out so far in this append. */
  const seqs = new Map(before)
  const numbered = entries.map(({ docName, updates, snapshot }) => {
    const first = seqs.get(docName)! + 1
    seqs.set(docName, first + updates.length - 1)
    return { docName, updates, snapshot, first }
  })
  // The last snapshot of each document replaces its log up to the last number it covers.
  const snapshots = new Map<string, { data: Uint8Array; upto: number }>()
  for (const { docName, updates, snapshot, first } of numbered)
    if (snapshot) snapshots.set(docName, { data: snapshot, upto: first + updates.length - 1 })
  const updates = numbered.flatMap(({ docName, updates, first }) =>
    updates.map((u, i) => ({ doc: docName, seq: first + i, ...u })).filter((u) => u.seq > (snapshots.get(docName)?.upto ?? 0)),
  )
  const clients = new Map<string, { doc: string; client: number; userId: string }>()
  for (const { docName: doc, updates } of entries)
    for (const { author, clients: ids } of updates)
      if (author !== null)
        for (const client of ids ?? [])
          if (!clients.has(`${doc}\n${client}`)) clients.set(`${doc}\n${client}`, { doc, client, userId: author })
  const compacting = [...snapshots].map(([doc, { data, upto }]) => ({ doc, data, upto, at: Date.now() }))
  const parts: [keyof typeof WRITES, unknown[][]][] = [
    ['updates', columnsOf(updates, ['doc', 'seq', 'update', 'author', 'at'])],
    ['clients', columnsOf([...clients.values()], ['doc', 'client', 'userId'])],
    ['entries', columnsOf(inserted, ['doc', 'at', 'user_id', 'fields', 'overwritten'])],
    ['changed', columnsOf(changed, ['seq', 'at', 'overwritten'])],
    ['snapshots', columnsOf(compacting, ['doc', 'data', 'upto', 'at'])],
    ['compacted', columnsOf(compacting, ['doc', 'upto'])],
  ]
  return parts.filter(([, values]) => values[0]!.length > 0).map(([name, values]) => ({ name, key: name, sql: () => WRITES[name], values }))
}

/** `rows` as a part's parameters: one array per key, in the order of `keys` (an absent value is null). */
function columnsOf<R extends object>(rows: readonly R[], keys: readonly (keyof R & string)[]): unknown[][] {
  return keys.map((key) => rows.map((row) => row[key] ?? null))
}

function unknownColumn(table: string, column: string): never {
  throw new Error(`no column ${column} in table ${table}`)
}
async function run<R extends object = object>(client: PoolClient, statement: Statement, values: unknown[]): Promise<R[]> {
  return (await client.query<R>({ name: `docstore-${statement}`, text: SQL[statement], values })).rows
}
