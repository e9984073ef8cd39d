/**
 * Keeps each collection's index document (`<workspace>/index/<collection>`: one summary per
 * record, read by the live list views) in step with the records' projections, after their
 * commits. A write that fails is reported through `onError`.
 */
import { type Collection, HAS_ITEMS, itemsTotal, type LineItem, recordTitle } from '../../shared/collections.js'
import { ITEMS, type IndexEntry, NOTES, indexEntriesOf } from '../../shared/docLayout.js'
import { indexDocName } from '../../shared/docNames.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import { NotOwnerError } from '../sync/DocRegistry.js'
import type { PendingUpdate } from '../sync/Room.js'
import { serverOrigin } from '../sync/types.js'
import type { RecordProjection } from './recordProjection.js'

/**
 * An index entry changes with a record's title, fields, authority and its last editor.
 * When only the notes or line items changed (typing), the entry's "updated" time and
 * editor are refreshed at most this often, not on every keystroke.
 */
export const INDEX_CONTENT_REFRESH_MS = 2000
/** Index entries written per transaction (a thousand take about 10 ms to apply and encode). */
const INDEX_WRITE_CHUNK = 100

/** A collection's live records with their line items, as stored (`RecordReads.all`). */
export type ReadItems = (workspace: string, collection: Collection) => Promise<readonly { id: string; items?: LineItem[] }[]>

export class RecordIndex {
  /** Index refreshes waiting after notes or items edits, by index document, then record id. */
  private readonly laterIndex = new Map<string, Map<string, IndexEntry | null>>()
  /** Writes `laterIndex`, INDEX_CONTENT_REFRESH_MS after the first of them. */
  private laterTimer: NodeJS.Timeout | null = null
  /** Sets (or, for null, deletes) entries of an index document: a call, run by the index's owner (maybe another cluster member). */
  private readonly writeIn: (indexName: string, args: { changes: [string, IndexEntry | null][] } & WriteOptions) => Promise<void>

  constructor(
    private readonly registry: AccordRegistry,
    private readonly onError: (error: unknown, context: string) => void = () => undefined,
    /** Where the totals missing from entries written before there were any are read from. */
    private readonly readItems?: ReadItems,
  ) {
    registry.onLoad((room) => this.keepIndexWith(room))
    this.writeIn = registry.defineCall('index.write', writeEntries)
    registry.onLoad((room) => this.fillTotalsOnLoad(room))
  }

  /**
   * An index of a collection with line items, loaded holding entries written before entries
   * carried `total`: gives them their total from the stored items, after the load (the lists
   * show the total column empty until then). Entries written meanwhile are left as they are.
   */
  private fillTotalsOnLoad(room: AccordRoom): undefined {
    const name = room.name
    if (name.kind !== 'index' || !HAS_ITEMS[name.collection] || !this.readItems) return undefined
    const missing = [...indexEntriesOf(room.doc).values()].filter((entry) => entry.total === undefined)
    if (missing.length === 0) return undefined
    const readItems = this.readItems
    void readItems(name.workspace, name.collection)
      .then((records) => {
        const items = new Map(records.map((r) => [r.id, r.items ?? []]))
        const changes = new Map<string, IndexEntry | null>()
        for (const entry of missing) {
          const stored = items.get(entry.id)
          if (stored) changes.set(entry.id, { ...entry, total: itemsTotal(stored) })
        }
        return this.writeIndexEntries(room.docName, changes, { onlyMissingTotal: true })
      })
      .catch((error: unknown) => this.onError(error, `index totals ${room.docName}`))
    return undefined
  }

  /** Writes the index refreshes still waiting (call before the registry closes). */
  async close(): Promise<void> {
    await this.writeLaterIndex()
  }

  /** Writes the waiting index refreshes: one transaction per index document. */
  private writeLaterIndex(): Promise<void> {
    if (this.laterTimer) clearTimeout(this.laterTimer)
    this.laterTimer = null
    const waiting = [...this.laterIndex]
    this.laterIndex.clear()
    return Promise.all(waiting.map(([indexName, entries]) => this.writeIndexEntries(indexName, entries))).then(() => undefined)
  }

  /**
   * A collection's index stays loaded, and parsed, while any of its records is: every edit
   * of a record may refresh its entry, and parsing a large index (tens of milliseconds for
   * thousands of entries) belongs to opening a record, not to the middle of someone's typing.
   */
  private async keepIndexWith(room: AccordRoom): Promise<(() => void) | undefined> {
    const name = room.name
    if (name.kind !== 'record') return undefined
    // Awaited: the record goes live with its index loaded (a load hook holds it back).
    let index: AccordRoom
    try {
      index = await this.registry.open(indexDocName(name.workspace, name.collection))
    } catch (error) {
      // Another cluster member owns the index: the entries go there (`writeIn`).
      if (error instanceof NotOwnerError) return undefined
      throw error
    }
    index.retain()
    void index.doc
    return () => index.release()
  }

  /**
   * Removes the index entries of records stored incomplete: a version before the `complete`
   * flag indexed them, and nothing else would take them out until they change again
   * (start-up; loads only the index documents of collections holding such records).
   */
  dropEntries(records: readonly { workspace: string; collection: Collection; id: string }[]): Promise<void> {
    const byIndex = new Map<string, Map<string, IndexEntry | null>>()
    for (const record of records) {
      const indexName = indexDocName(record.workspace, record.collection)
      let changes = byIndex.get(indexName)
      if (!changes) byIndex.set(indexName, (changes = new Map()))
      changes.set(record.id, null)
    }
    return Promise.all([...byIndex].map(([indexName, changes]) => this.writeIndexEntries(indexName, changes))).then(() => undefined)
  }

  /** After a commit: keeps the collection's index document in step with a record's projection; a deleted or incomplete record has no entry. */
  handleCommitted(room: AccordRoom, persisted: readonly PendingUpdate[], projection: RecordProjection | undefined): void {
    const name = room.name
    if (name.kind !== 'record') return
    if (!projection) return
    const entry: IndexEntry | null =
      projection.deleted || !projection.complete
        ? null
        : {
            id: name.id,
            title: recordTitle(name.collection, projection.fields),
            fields: projection.fields,
            authority: projection.authority,
            ...(projection.total === undefined ? {} : { total: projection.total }),
            updatedAt: new Date(projection.updatedAt).toISOString(),
            updatedBy: projection.updatedBy,
          }
    const indexName = indexDocName(name.workspace, name.collection)
    const contentOnly = persisted.every((p) => p.changed.length > 0 && p.changed.every((part) => part === NOTES || part === ITEMS))
    if (contentOnly) {
      let waiting = this.laterIndex.get(indexName)
      if (!waiting) this.laterIndex.set(indexName, (waiting = new Map()))
      waiting.set(name.id, entry)
      if (!this.laterTimer) {
        this.laterTimer = setTimeout(() => void this.writeLaterIndex(), INDEX_CONTENT_REFRESH_MS)
        this.laterTimer.unref()
      }
      return
    }
    this.laterIndex.get(indexName)?.delete(name.id)
    void this.writeIndexEntries(indexName, new Map([[name.id, entry]]))
  }

  /** Sets (or, for null, deletes) entries of an index document, a chunk per transaction. */
  private writeIndexEntries(indexName: string, changes: Map<string, IndexEntry | null>, options: WriteOptions = {}): Promise<void> {
    if (changes.size === 0) return Promise.resolve()
    return this.writeIn(indexName, { changes: [...changes], ...options }).catch((error: unknown) =>
      this.onError(error, `index ${indexName}`),
    )
  }
}

interface WriteOptions {
  /** Only over entries that have no `total` yet (filling in totals, never over a newer entry). */
  onlyMissingTotal?: boolean
}

/** The `index.write` call: the entries not written meanwhile from a newer state, a transaction per chunk. */
async function writeEntries(
  index: AccordRoom,
  { changes, onlyMissingTotal }: { changes: [string, IndexEntry | null][] } & WriteOptions,
): Promise<void> {
  const entries = indexEntriesOf(index.doc)
  const due = (id: string, entry: IndexEntry | null) => {
    const current = entries.get(id)
    if (entry === null) return current !== undefined
    if (onlyMissingTotal && current?.total !== undefined) return false
    // Written meanwhile from a newer state of the record (a chunk waited its turn).
    if (current && current.updatedAt > entry.updatedAt) return false
    return !(current && current.updatedBy === entry.updatedBy && sameSummary(current, entry))
  }
  for (let i = 0; i < changes.length && index.state !== 'closed'; i += INDEX_WRITE_CHUNK) {
    // A transaction per chunk, each in its own turn: other documents' updates go between.
    if (i > 0) await new Promise((resolve) => setImmediate(resolve))
    const chunk = changes.slice(i, i + INDEX_WRITE_CHUNK).filter(([id, entry]) => due(id, entry))
    if (chunk.length === 0) continue
    index.doc.transact(() => {
      for (const [id, entry] of chunk) {
        if (entry === null) entries.delete(id)
        else entries.set(id, entry)
      }
    }, serverOrigin('index'))
  }
}

function sameSummary(a: IndexEntry, b: IndexEntry): boolean {
  return (
    a.title === b.title &&
    a.total === b.total &&
    JSON.stringify(a.fields) === JSON.stringify(b.fields) &&
    JSON.stringify(a.authority) === JSON.stringify(b.authority)
  )
}
