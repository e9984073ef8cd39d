/** Writing into a stopped server's database what an older version of Accord might have stored. */
import * as Y from 'yjs'
import type { AccordOptions } from '../../server/AccordServer.js'
import { openPool } from '../../server/pg/openPool.js'
import type { DocStore } from '../../server/store/DocStore.js'
import { InlineDocStore } from '../../server/store/InlineDocStore.js'
import { openDatabase } from '../../server/store/openDatabase.js'
import { PgDocStore } from '../../server/store/PgDocStore.js'

/**
 * Loads `docName` from the database (its server stopped: a SQLite file, or the database of
 * `options.databaseUrl`), makes `change` to it and appends that change to the update log as a
 * server write, bypassing every check of today's server.
 */
export async function appendToStored(
  database: string | Pick<AccordOptions, 'db' | 'databaseUrl'>,
  docName: string,
  change: (doc: Y.Doc) => void,
): Promise<void> {
  const { db: file, databaseUrl } = typeof database === 'string' ? { db: database } : database
  if (databaseUrl) {
    const pool = await openPool(databaseUrl, { max: 1 })
    try {
      await appendTo(new PgDocStore(pool), docName, change)
    } finally {
      await pool.end()
    }
    return
  }
  const db = openDatabase(file!)
  try {
    await appendTo(new InlineDocStore(db), docName, change)
  } finally {
    db.close()
  }
}

async function appendTo(store: DocStore, docName: string, change: (doc: Y.Doc) => void): Promise<void> {
  const doc = new Y.Doc()
  for (const update of (await store.load(docName)).updates) Y.applyUpdate(doc, update)
  const sv = Y.encodeStateVector(doc)
  doc.transact(() => change(doc))
  await store.append([{ docName, updates: [{ update: Y.encodeStateAsUpdate(doc, sv), author: null, changed: [], at: Date.now() }] }])
}
