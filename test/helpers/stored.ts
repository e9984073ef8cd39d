/** Reading and writing a stopped server's database: what an older version of Accord might have stored. */
import * as Y from 'yjs'
import type { AccordOptions } from '../../server/AccordServer.js'
import { openPool } from '../../server/pg/openPool.js'
import type { DocStore } from '../../server/store/DocStore.js'
import { InlineDocStore } from '../../server/store/InlineDocStore.js'
import { openDatabase } from '../../server/store/openDatabase.js'
import { PgDocStore } from '../../server/store/PgDocStore.js'

/** A SQLite file, or the options naming a server's database (`db` or `databaseUrl`). */
export type StoredDatabase = string | Pick<AccordOptions, 'db' | 'databaseUrl'>

/** Runs `use` on a document store of its own on the database, closed afterwards. */
async function withStore<T>(database: StoredDatabase, use: (store: DocStore) => Promise<T>): Promise<T> {
  const { db: file, databaseUrl } = typeof database === 'string' ? { db: database } : database
  if (databaseUrl) {
    const pool = await openPool(databaseUrl, { max: 1 })
    try {
      return await use(new PgDocStore(pool))
    } finally {
      await pool.end()
    }
  }
  const db = openDatabase(file!)
  try {
    return await use(new InlineDocStore(db))
  } finally {
    db.close()
  }
}

async function loadFrom(store: DocStore, docName: string): Promise<Y.Doc> {
  const doc = new Y.Doc()
  for (const update of (await store.load(docName)).updates) Y.applyUpdate(doc, update)
  return doc
}

/** `docName` as stored in the database (its server stopped). */
export function loadStored(database: StoredDatabase, docName: string): Promise<Y.Doc> {
  return withStore(database, (store) => loadFrom(store, docName))
}

/**
 * Loads `docName` from the database (its server stopped), makes `change` to it and appends
 * that change to the update log as a server write, bypassing every check of today's server.
 */
export function appendToStored(database: StoredDatabase, docName: string, change: (doc: Y.Doc) => void): Promise<void> {
  return withStore(database, async (store) => {
    const doc = await loadFrom(store, docName)
    const sv = Y.encodeStateVector(doc)
    doc.transact(() => change(doc))
    await store.append([{ docName, updates: [{ update: Y.encodeStateAsUpdate(doc, sv), author: null, changed: [], at: Date.now() }] }])
  })
}
