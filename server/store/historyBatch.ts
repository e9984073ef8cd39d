/**
 * The history rules (historyRuns.ts) applied to a whole append at once, for a store whose
 * every statement is a round trip (PgDocStore): it reads what the rules look at in one query,
 * once the append's documents are locked, works out here what the entry-by-entry writes of
 * SqliteDocStore would leave, and writes that in one statement.
 *
 * The rules look at two kinds of stored entries: a document's latest (extended or not), and
 * the latest entry of the person whose value was kept that changed the part (a lost value
 * goes on it). Entries made earlier in the same append count as stored ones would.
 */
import type { OverwrittenPart, PersistEntry, StoredUpdate } from './DocStore.js'
import { type LastEntry, entryParts, extendsLast, parseOverwrites, storedOverwrites } from './historyRuns.js'

/** A stored history entry as read for an append. */
export interface StoredEntry {
  seq: number
  at: number
  user_id: string | null
  /** The parts it names, a JSON array. */
  fields: string
  overwritten: string | null
}

/** Whose latest entry for a part an append may add a lost value to. */
export interface PartLookup {
  doc: string
  userId: string
  part: string
}

/** What an append's history needs read: the documents whose latest entry matters, and the lookups of lost values. */
export interface HistoryReads {
  docs: string[]
  lookups: PartLookup[]
}

/** What was read: each document's latest entry with the seq of its first, and each lookup's entry (by index), if any. */
export interface HistoryState {
  latest: ReadonlyMap<string, LatestEntry>
  found: readonly (StoredEntry | undefined)[]
}

/** A new entry, in the order entries are to be numbered. */
export interface NewEntry {
  doc: string
  at: number
  user_id: string | null
  fields: string
  overwritten: string | null
}

/** A document's latest entry, with the seq of its first. */
export type LatestEntry = StoredEntry & { first: number }

/** What an append writes to the history: entries to insert, in order, and stored ones whose time or lost values changed. */
export interface HistoryWrites {
  inserted: NewEntry[]
  changed: { seq: number; at: number; overwritten: string | null }[]
  /**
   * Each document's latest entry once these are written (null: none), for the documents of
   * the reads; `seq` and `first` are negative for entries inserted here (their numbers are
   * the database's: the document's highest and lowest of them).
   */
  latest: Map<string, LatestEntry | null>
}

/** Whether the update makes or changes an entry (SqliteDocStore calls `recordHistory` for exactly these). */
const recorded = (u: StoredUpdate) => u.changed.length > 0 || (u.overwritten?.length ?? 0) > 0

/** A lost value that goes on someone else's entry, if they have one: not the update's author's own, nor the server's. */
const lookedUp = (u: StoredUpdate, lost: OverwrittenPart): lost is OverwrittenPart & { keptBy: string } =>
  lost.keptBy !== null && lost.keptBy !== u.author

const lookupKey = (doc: string, userId: string, part: string) => JSON.stringify([doc, userId, part])

export function historyReads(entries: readonly PersistEntry[]): HistoryReads {
  const docs = new Set<string>()
  const lookups = new Map<string, PartLookup>()
  for (const { docName, updates } of entries)
    for (const u of updates) {
      if (!recorded(u)) continue
      docs.add(docName)
      for (const lost of u.overwritten ?? [])
        if (lookedUp(u, lost))
          lookups.set(lookupKey(docName, lost.keptBy, lost.part), { doc: docName, userId: lost.keptBy, part: lost.part })
    }
  return { docs: [...docs], lookups: [...lookups.values()] }
}

/** An entry while the append is worked out: a stored one (its seq) or a new one (a negative number, in order of making). */
interface Entry extends StoredEntry {
  doc: string
  stored: boolean
  changed: boolean
}

/**
 * The writes that leave the history as applying `entries`' updates one by one would, from
 * `state`, read for `reads` (`historyReads(entries)`).
 */
export function historyWrites(entries: readonly PersistEntry[], reads: HistoryReads, state: HistoryState): HistoryWrites {
  const storedBySeq = new Map<number, Entry>()
  const stored = (doc: string, row: StoredEntry): Entry => {
    let entry = storedBySeq.get(row.seq)
    if (!entry) storedBySeq.set(row.seq, (entry = { ...row, doc, stored: true, changed: false }))
    return entry
  }
  const docs = new Map<string, { last: Entry | undefined; first: number | undefined; made: Entry[] }>()
  for (const doc of reads.docs) {
    const latest = state.latest.get(doc)
    docs.set(doc, { last: latest && stored(doc, latest), first: latest?.first, made: [] })
  }
  const found = new Map<string, Entry>()
  reads.lookups.forEach(({ doc, userId, part }, i) => {
    const row = state.found[i]
    if (row) found.set(lookupKey(doc, userId, part), stored(doc, row))
  })
  const made: Entry[] = []

  /** The latest entry of `userId` in the document that changed `part`: one made in this append, else the stored one. */
  const lastChangeBy = (doc: string, userId: string, part: string): Entry | undefined => {
    for (const entry of docs.get(doc)!.made.toReversed())
      if (entry.user_id === userId && (JSON.parse(entry.fields) as string[]).includes(part)) return entry
    return found.get(lookupKey(doc, userId, part))
  }

  for (const { docName, updates } of entries)
    for (const u of updates) {
      if (!recorded(u)) continue
      const doc = docs.get(docName)!
      const own: OverwrittenPart[] = []
      for (const lost of u.overwritten ?? []) {
        const kept = lookedUp(u, lost) ? lastChangeBy(docName, lost.keptBy, lost.part) : undefined
        if (!kept) {
          own.push(lost)
          continue
        }
        kept.overwritten = storedOverwrites(parseOverwrites(kept.overwritten), [lost])
        kept.changed = true
      }
      if (u.changed.length === 0 && own.length === 0) continue
      const last: LastEntry | undefined = doc.last && { ...doc.last, first: doc.first! }
      if (extendsLast(last, u, own)) {
        doc.last!.at = Math.max(last.at, u.at)
        doc.last!.changed = true
        continue
      }
      const entry: Entry = {
        doc: docName,
        seq: -(made.length + 1),
        at: u.at,
        user_id: u.author,
        fields: entryParts(u, own),
        overwritten: own.length > 0 ? storedOverwrites([], own) : null,
        stored: false,
        changed: false,
      }
      made.push(entry)
      doc.made.push(entry)
      doc.last = entry
      doc.first ??= entry.seq
    }

  const latest = new Map<string, LatestEntry | null>()
  for (const [name, { last, first }] of docs)
    latest.set(
      name,
      last
        ? { seq: last.seq, at: last.at, user_id: last.user_id, fields: last.fields, overwritten: last.overwritten, first: first! }
        : null,
    )
  return {
    inserted: made.map(({ doc, at, user_id, fields, overwritten }) => ({ doc, at, user_id, fields, overwritten })),
    changed: [...storedBySeq.values()].filter((e) => e.changed).map(({ seq, at, overwritten }) => ({ seq, at, overwritten })),
    latest,
  }
}
