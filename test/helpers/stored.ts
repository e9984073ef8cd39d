/** Writing into a stopped server's SQLite file what an older version of Accord might have stored. */
import * as Y from 'yjs'
import { InlineDocStore } from '../../server/store/InlineDocStore.js'
import { openDatabase } from '../../server/store/openDatabase.js'

/**
 * Loads `docName` from the database file `dbFile` (its server stopped), makes `change` to it and
 * appends that change to the update log as a server write, bypassing every check of today's server.
 */
export async function appendToStored(dbFile: string, docName: string, change: (doc: Y.Doc) => void): Promise<void> {
  const db = openDatabase(dbFile)
  try {
    const store = new InlineDocStore(db)
    const doc = new Y.Doc()
    for (const update of (await store.load(docName)).updates) Y.applyUpdate(doc, update)
    const sv = Y.encodeStateVector(doc)
    doc.transact(() => change(doc))
    await store.append([{ docName, updates: [{ update: Y.encodeStateAsUpdate(doc, sv), author: null, changed: [], at: Date.now() }] }])
  } finally {
    db.close()
  }
}
