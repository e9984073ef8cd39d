/**
 * On SQLite a record's row is written just after the commit of its updates (CommitQueue's
 * `projectAfterBroadcast`), with the last log number it reflects (`records.log_seq`). A crash
 * between the two leaves the row behind its log: the start finds such records here and has
 * them projected again (AccordServer.start), counting the updates the row missed.
 */
import { parseDocName } from '../../shared/docNames.js'
import type { Db } from '../store/openDatabase.js'

export interface StaleProjection {
  docName: string
  /** Updates on disk the row does not reflect (all of the log when there is no row). */
  missed: number
  /** When the last of them was made, and the last author among them (null: only the server's). */
  at: number
  author: string | null
}

/** Records whose log holds updates past their row. Only logs not yet compacted are read: a start after a clean stop finds none. */
export function staleProjections(db: Db): StaleProjection[] {
  const logged = db.prepare<[], { doc: string }>('SELECT DISTINCT doc FROM doc_updates').all()
  const position = db.prepare<[string, string, string], { log_seq: number }>(
    'SELECT log_seq FROM records WHERE workspace = ? AND collection = ? AND id = ?',
  )
  const past = db.prepare<[string, number], { at: number; author: string | null }>(
    'SELECT at, author FROM doc_updates WHERE doc = ? AND seq > ? ORDER BY seq',
  )
  const stale: StaleProjection[] = []
  for (const { doc } of logged) {
    const parsed = parseDocName(doc)
    if (!parsed.ok || parsed.name.kind !== 'record') continue
    const { workspace, collection, id } = parsed.name
    const after = position.get(workspace, collection, id)?.log_seq ?? 0
    const missed = past.all(doc, after)
    if (missed.length === 0) continue
    const author = missed.findLast((u) => u.author !== null)?.author ?? null
    stale.push({ docName: doc, missed: missed.length, at: missed.at(-1)!.at, author })
  }
  return stale
}
