/**
 * A DocStore that commits on the calling thread: for an in-memory database (which a
 * second thread cannot open), `writer: 'inline'`, and ThreadedDocStore's fast commits.
 */
import type { DocStore, LoadedDoc, PersistEntry } from './DocStore.js'
import type { Db } from './openDatabase.js'
import { SqliteDocStore } from './SqliteDocStore.js'

export class InlineDocStore implements DocStore {
  private readonly store: SqliteDocStore

  constructor(db: Db) {
    this.store = new SqliteDocStore(db)
  }

  /** Reads on the calling thread and resolves at once (a read that throws rejects). */
  async load(docName: string): Promise<LoadedDoc> {
    return this.store.load(docName)
  }

  append(entries: PersistEntry[]): Promise<void> {
    try {
      this.store.append(entries)
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  close(): Promise<void> {
    return Promise.resolve()
  }

  failure(): Error | null {
    return null
  }
}
