/** Reading and writing a stopped server's database: what an older version of Accord might have stored. */
import * as Y from 'yjs'
import type { AccordOptions } from '../../server/AccordServer.js'
import { numbered } from '../../server/pg/numbered.js'
import { type Pool, openPool } from '../../server/pg/openPool.js'
import type { DocStore } from '../../server/store/DocStore.js'
import { InlineDocStore } from '../../server/store/InlineDocStore.js'
import { type Db, openDatabase } from '../../server/store/openDatabase.js'
import { PgDocStore } from '../../server/store/PgDocStore.js'

/** A SQLite file, or the options naming a server's database (`db` or `databaseUrl`). */
export type StoredDatabase = string | Pick<AccordOptions, 'db' | 'databaseUrl'>

/** Runs one statement (`?` parameters) on a SQLite connection or a PostgreSQL pool and returns its rows. */
export async function statement<R = Record<string, unknown>>(on: Db | Pool, sql: string, params: unknown[] = []): Promise<R[]> {
  if (!('prepare' in on)) return (await on.query(numbered(sql), params)).rows as R[]
  const prepared = on.prepare(sql)
  if (prepared.reader) return prepared.all(...params) as R[]
  prepared.run(...params)
  return []
}

/** Runs `use` on a connection of its own to the database (a pool of one on PostgreSQL), closed afterwards. */
async function withConnection<T>(database: StoredDatabase, use: (on: Db | Pool) => Promise<T>): Promise<T> {
  const { db: file, databaseUrl } = typeof database === 'string' ? { db: database } : database
  const on = databaseUrl ? await openPool(databaseUrl, { max: 1 }) : openDatabase(file!)
  try {
    return await use(on)
  } finally {
    if ('prepare' in on) on.close()
    else await on.end()
  }
}

/** Runs `use` on a document store of its own on the database. */
function withStore<T>(database: StoredDatabase, use: (store: DocStore) => Promise<T>): Promise<T> {
  return withConnection(database, (on) => use('prepare' in on ? new InlineDocStore(on) : new PgDocStore(on)))
}

/** Runs one statement (`?` parameters) on the database (its server stopped) and returns its rows. */
export function queryStored<R = Record<string, unknown>>(database: StoredDatabase, sql: string, params: unknown[] = []): Promise<R[]> {
  return withConnection(database, (on) => statement<R>(on, sql, params))
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
