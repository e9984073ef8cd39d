/**
 * Where documents live. One embedded implementation (SQLite); the interface is what a
 * distributed engine would implement.
 */
import type { Collection, FieldValues, LineItem } from '../../shared/collections.js'

export interface StoredUpdate {
  update: Uint8Array
  /** User id of the author; null for the server's own writes. */
  author: string | null
  /** Names of the record parts the update changed (fields, `notes`, `items`, `authority.*`). */
  changed: string[]
  at: number
}

/** Current projection of a record, written with its updates. */
export interface RecordProjection {
  workspace: string
  collection: Collection
  id: string
  fields: FieldValues
  notes: string
  items: LineItem[]
  authority: FieldValues
  deleted: boolean
  /** Every required field is present (`isComplete`); an incomplete record is stored but not served. */
  complete: boolean
  etag: string
  updatedAt: number
  updatedBy: string | null
}

export interface PersistEntry {
  docName: string
  updates: StoredUpdate[]
  projection?: RecordProjection
  /**
   * The document's whole state, these updates included: it replaces the document's log
   * (compaction), in the same transaction as the updates.
   */
  snapshot?: Uint8Array
}

export interface LoadedDoc {
  /** Snapshot first (if any), then logged updates in order. */
  updates: Uint8Array[]
  /** How many updates are logged since the snapshot. */
  loggedCount: number
  loggedBytes: number
}

/**
 * What the sync layer needs. Reads are synchronous (a document loads on first use);
 * writes are asynchronous, so an engine may commit off the event loop. Writes complete
 * in the order they were made.
 */
export interface DocStore {
  load(docName: string): LoadedDoc
  /** Appends every entry (and compacts those with a snapshot) in one atomic write; resolves once it is durable, rejects if nothing was written. */
  append(entries: PersistEntry[]): Promise<void>
  /** Waits for the writes in progress, then lets go of the engine. */
  close(): Promise<void>
  /** Why the store can no longer write (a writer thread that died), or null. */
  failure(): Error | null
}
