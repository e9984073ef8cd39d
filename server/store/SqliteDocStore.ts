import type Database from 'better-sqlite3'
import type { Db } from './openDatabase.js'
import type { LoadedDoc, OverwrittenPart, PersistEntry, ProjectionRow, StoredUpdate } from './DocStore.js'
import { type LastEntry, entryParts, extendsLast, parseOverwrites, storedOverwrites } from './historyRuns.js'
import { upsertShape, upsertSql, upsertValues } from './upsertSql.js'

/**
 * The SQL of the document store, synchronous: an append-only update log per document,
 * compacted into snapshots, and the projection rows written with the updates. The
 * server writes through it on its writer thread (ThreadedDocStore) and reads through it
 * on the main thread.
 */
export class SqliteDocStore {
  private readonly stmts
  private readonly appendAll: Database.Transaction<(entries: PersistEntry[]) => void>
  private readonly loadOne: (docName: string) => LoadedDoc
  private readonly upserts = new Map<string, Database.Statement>()

  constructor(private readonly db: Db) {
    this.stmts = {
      snapshot: db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_snapshots WHERE doc = ?'),
      updates: db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_updates WHERE doc = ? ORDER BY seq'),
      insertUpdate: db.prepare('INSERT INTO doc_updates (doc, data, author, at) VALUES (?, ?, ?, ?)'),
      insertHistory: db.prepare('INSERT INTO history (doc, at, user_id, fields, overwritten) VALUES (?, ?, ?, ?, ?)'),
      lastHistory: db.prepare<[string], LastEntry>(
        'SELECT seq, at, user_id, fields, overwritten, (SELECT MIN(seq) FROM history WHERE doc = h.doc) AS first FROM history h WHERE doc = ? ORDER BY seq DESC LIMIT 1',
      ),
      extendHistory: db.prepare('UPDATE history SET at = ? WHERE seq = ?'),
      lastChangeBy: db.prepare<[string, string, string], { seq: number; overwritten: string | null }>(
        'SELECT seq, overwritten FROM history WHERE doc = ? AND user_id = ? AND EXISTS (SELECT 1 FROM json_each(history.fields) WHERE value = ?) ORDER BY seq DESC LIMIT 1',
      ),
      setOverwritten: db.prepare('UPDATE history SET overwritten = ? WHERE seq = ?'),
      clients: db.prepare<[string], { client: number; user_id: string }>('SELECT client, user_id FROM doc_clients WHERE doc = ?'),
      insertClient: db.prepare('INSERT OR IGNORE INTO doc_clients (doc, client, user_id) VALUES (?, ?, ?)'),
      maxSeq: db.prepare<[string], { seq: number | null }>('SELECT MAX(seq) AS seq FROM doc_updates WHERE doc = ?'),
      upsertSnapshot: db.prepare(`INSERT INTO doc_snapshots (doc, data, upto, at) VALUES (?, ?, ?, ?)
        ON CONFLICT (doc) DO UPDATE SET data = excluded.data, upto = excluded.upto, at = excluded.at`),
      deleteUpTo: db.prepare('DELETE FROM doc_updates WHERE doc = ? AND seq <= ?'),
      logPosition: db.prepare<[string, string], { at: number }>(
        'SELECT COALESCE((SELECT MAX(seq) FROM doc_updates WHERE doc = ?), (SELECT upto FROM doc_snapshots WHERE doc = ?), 0) AS at',
      ),
    }
    this.appendAll = db.transaction((entries: PersistEntry[]) => {
      for (const entry of entries) {
        if (entry.projection && entry.projectionBefore) this.upsert(entry.docName, entry.projection)
        for (const u of entry.updates) {
          this.stmts.insertUpdate.run(entry.docName, u.update, u.author, u.at)
          if (u.author !== null) for (const client of u.clients ?? []) this.stmts.insertClient.run(entry.docName, client, u.author)
          if (u.changed.length > 0 || u.overwritten?.length) this.recordHistory(entry.docName, u)
        }
        if (entry.snapshot) {
          const upto = this.stmts.maxSeq.get(entry.docName)?.seq ?? 0
          this.stmts.upsertSnapshot.run(entry.docName, entry.snapshot, upto, Date.now())
          this.stmts.deleteUpTo.run(entry.docName, upto)
        }
        if (entry.projection && !entry.projectionBefore) this.upsert(entry.docName, entry.projection)
      }
    })
    this.loadOne = db.transaction((docName: string): LoadedDoc => {
      const snapshot = this.stmts.snapshot.get(docName)
      const logged = this.stmts.updates.all(docName)
      let loggedBytes = 0
      for (const row of logged) loggedBytes += row.data.byteLength
      const updates = logged.map((row) => new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength))
      if (snapshot) updates.unshift(new Uint8Array(snapshot.data))
      const clientAuthors = this.stmts.clients.all(docName).map((row): [number, string] => [row.client, row.user_id])
      return { updates, loggedCount: logged.length, loggedBytes, clientAuthors }
    })
  }

  /**
   * One history entry per run of edits (see `extendsLast`). A value that lost to a concurrent
   * one goes on the entry of the change that was kept (see `OverwrittenPart`).
   */
  private recordHistory(docName: string, u: StoredUpdate): void {
    // Lost values go on the kept change's own entry; what stays here is what this update kept.
    const own: OverwrittenPart[] = []
    for (const lost of u.overwritten ?? []) if (lost.keptBy === u.author || !this.addToLastChange(docName, lost)) own.push(lost)
    if (u.changed.length === 0 && own.length === 0) return
    const last = this.stmts.lastHistory.get(docName)
    if (extendsLast(last, u, own)) this.stmts.extendHistory.run(Math.max(last.at, u.at), last.seq)
    else this.stmts.insertHistory.run(docName, u.at, u.author, entryParts(u, own), own.length > 0 ? storedOverwrites([], own) : null)
  }

  /** Adds a lost value to the latest entry of the user whose value was kept, for that part; false if there is none. */
  private addToLastChange(docName: string, lost: OverwrittenPart): boolean {
    if (lost.keptBy === null) return false
    const entry = this.stmts.lastChangeBy.get(docName, lost.keptBy, lost.part)
    if (!entry) return false
    this.stmts.setOverwritten.run(storedOverwrites(parseOverwrites(entry.overwritten), [lost]), entry.seq)
    return true
  }

  /** Upserts a projection row, with a statement compiled once per table and set of columns. */
  private upsert(docName: string, projection: ProjectionRow): void {
    const { logColumn } = projection
    const row = logColumn
      ? { ...projection, values: { ...projection.values, [logColumn]: this.stmts.logPosition.get(docName, docName)!.at } }
      : projection
    const columns = Object.keys(row.values)
    const shape = upsertShape(row, columns)
    let statement = this.upserts.get(shape)
    if (!statement) this.upserts.set(shape, (statement = this.db.prepare(upsertSql(row, columns))))
    statement.run(upsertValues(row, columns))
  }

  /** Snapshot and log are read in one transaction: a compaction committed by another connection cannot fall between them. */
  load(docName: string): LoadedDoc {
    return this.loadOne(docName)
  }

  /**
   * BEGIN IMMEDIATE: the write lock is taken up front, waiting out a writer on the other
   * connection. A deferred transaction can instead fail at once with "database is locked"
   * when the other connection committed in between (the busy timeout does not apply).
   */
  append(entries: PersistEntry[]): void {
    this.appendAll.immediate(entries)
  }
}
