/**
 * Where documents live: an update log per document, compacted into snapshots, with the
 * history of who changed which parts and the projection rows derived from documents. The
 * interface knows documents and rows, never what a document means.
 */
export interface StoredUpdate {
  update: Uint8Array
  /** User id of the author; null for the server's own writes. */
  author: string | null
  /** Names of the parts of the document the update changed, as its kind names them (history). */
  changed: string[]
  at: number
  /**
   * Yjs client ids first used in this update: they are `author`'s from now on (the store keeps
   * them per document, across compactions and restarts, and loads them with it).
   */
  clients?: number[]
  /** Values of parts this update's transaction found set concurrently by someone else, and which of them lost. */
  overwritten?: OverwrittenPart[]
}

/**
 * Two people set the same part concurrently (neither had seen the other's value) and one value
 * was kept. The history keeps the lost value on the entry of the change that was kept: this
 * update's own entry when `keptBy` is its author, else the latest entry of `keptBy` that
 * changed `part` (an entry carrying one is never extended by later edits).
 */
export interface OverwrittenPart {
  part: string
  /** The value that lost. */
  value: unknown
  /** Who wrote the value that lost. */
  author: string | null
  /** Who wrote the value that was kept. */
  keptBy: string | null
}

/** A value of a SQL column. */
export type SqlValue = string | number | null

/**
 * A row derived from a document's state, written in the same transaction as the updates it
 * reflects or in the next one (`PersistEntry.projectionBefore`), so a read of it (a list, a
 * search, an export) never shows what is not on disk.
 * The document kind that produces it names the table and its columns (trusted code, never
 * client input); the store only upserts it.
 */
export interface ProjectionRow {
  table: string
  /** The columns of the table's primary key. */
  key: readonly string[]
  /** Stored as given, but for U+0000 (NUL) in strings, stored as U+FFFD by every store (see `storedValue`). */
  values: Readonly<Record<string, SqlValue>>
  /** Columns written when the row is inserted, never updated (a creation time). */
  insertOnly?: readonly string[]
  /** Columns whose stored value stays when the new one is null. */
  keepIfNull?: readonly string[]
  /**
   * Numeric columns that count: the value is written when the row is inserted and added to
   * the stored one afterwards (`col = table.col + excluded.col`), in one statement, so a count
   * of them can never lose one to a concurrent write nor go back.
   */
  increment?: readonly string[]
  /**
   * A column the store sets to the position in the document's log that the row reflects,
   * where it keeps one (SQLite: the log's last number then, or its snapshot's): a row written
   * after its updates (CommitQueue's `projectAfterBroadcast`) that a crash left behind is then
   * found by updates logged past it.
   */
  logColumn?: string
}

export interface PersistEntry {
  docName: string
  updates: StoredUpdate[]
  /** Written with the updates, replacing the row with the same key. */
  projection?: ProjectionRow
  /** `projection` reflects the document before this entry's updates (computed after its previous write): written before them. */
  projectionBefore?: boolean
  /**
   * The document's whole state, these updates included: it replaces the document's log
   * (compaction), in the same transaction as the updates.
   */
  snapshot?: Uint8Array
}

/**
 * The log numbers an append gave each document's updates, both included, for stores that
 * number each document's log in commit order (PostgreSQL: a cluster's relays follow a
 * document by these numbers). Absent for a document whose entry carried no update.
 */
export type AppendedLog = ReadonlyMap<string, { first: number; last: number }>

export interface LoadedDoc {
  /** Snapshot first (if any), then logged updates in order. */
  updates: Uint8Array[]
  /** How many updates are logged since the snapshot. */
  loggedCount: number
  loggedBytes: number
  /** Which user first wrote with each Yjs client id in the document (see `StoredUpdate.clients`). */
  clientAuthors: [client: number, userId: string][]
}

/**
 * What the sync layer needs. Reads and writes are asynchronous, so an engine may read and
 * commit off the event loop (a database over the network); a document loads on first use.
 * Writes complete in the order they were made. A load returns what was on disk at some
 * moment during the call: the caller never loads a document while it has writes of it in
 * flight (see CommitQueue.load).
 */
export interface DocStore {
  /** The document's stored state; rejects if it could not be read. */
  load(docName: string): Promise<LoadedDoc>
  /**
   * Appends every entry (and compacts those with a snapshot) in one atomic write, at most
   * once; resolves once it is durable. Rejects if nothing was written, or if whether it was
   * could not be found out (a database connection lost at COMMIT): then the next `load` of its
   * documents reads after the write's outcome, whichever it was. May resolve with the log
   * numbers it gave (`AppendedLog`); stores that do not number per document resolve with
   * nothing, and so may one that found the append committed by an earlier try.
   */
  append(entries: PersistEntry[]): Promise<AppendedLog | void>
  /** Waits for the writes in progress, then lets go of the engine. */
  close(): Promise<void>
  /** Why the store can no longer write (a writer thread that died), or null. */
  failure(): Error | null
}
