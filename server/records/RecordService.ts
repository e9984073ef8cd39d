/**
 * Records through the REST API: every write is a transaction on the live document (so it
 * merges with open editors and is persisted like any edit); reads come from the `records`
 * projection (RecordReads), written in the same transaction as the updates.
 */
import {
  type Collection,
  type FieldIssue,
  type FieldValues,
  FIELD_DEFAULTS,
  HAS_ITEMS,
  type LineItem,
  checkField,
  checkItems,
  checkRecord,
} from '../../shared/collections.js'
import { authorityOf, fieldsOf, itemToYMap, itemsOf, notesOf, readFields } from '../../shared/docLayout.js'
import { isTextField, replaceText, textOf } from '../../shared/textFields.js'
import { newRecordId, recordDocName } from '../../shared/docNames.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import { serverOrigin } from '../sync/types.js'
import { RecordError } from './RecordError.js'
import type { ApiRecord, CurrentRecord, FoundRecord, HistoryEntry, ListQuery, RecordPage, RecordReads } from './RecordReads.js'
import { etagOf } from './recordProjection.js'
import { StaleRecordError } from './StaleRecordError.js'

/** A change written through the REST API: a patch's fields, notes and items, or a deletion. */
type RecordChange = { kind: 'patch'; fields: FieldValues; notes?: string; items?: LineItem[] } | { kind: 'delete' }

/**
 * The arguments of the `record.write` call: write `change` if the document's ETag is one of
 * `etags` (any state when absent), or, on a second visit, only if it is still `state` with
 * everything on disk.
 */
interface WriteArgs {
  collection: Collection
  userId: string
  change: RecordChange
  etags?: string[]
  state?: string
}

/** What a visit of `record.write` found. */
type WriteVisit = { written: true } | { written: false; state: string | null } | { written: false; issues: FieldIssue[] }

export class RecordService {
  /**
   * The REST writes, as the registry's calls (`defineCall`): run on the document's owner,
   * which may be another cluster member.
   */
  private readonly createIn: (
    docName: string,
    args: { collection: Collection; fields: FieldValues; notes?: string; items?: LineItem[]; userId: string },
  ) => Promise<void>
  private readonly writeIn: (docName: string, args: WriteArgs) => Promise<WriteVisit>
  private readonly restoreIn: (docName: string, args: { userId: string }) => Promise<boolean>

  constructor(
    registry: AccordRegistry,
    readonly reads: RecordReads,
  ) {
    this.createIn = registry.defineCall('record.create', (room, { collection, fields, notes, items, userId }) => {
      room.doc.transact(
        () => {
          const map = fieldsOf(room.doc)
          for (const [key, value] of Object.entries(fields)) {
            if (!isTextField(collection, key)) map.set(key, value)
            else if (value !== '') textOf(room.doc, key).insert(0, value as string)
          }
          if (notes) notesOf(room.doc).insert(0, notes)
          if (items) itemsOf(room.doc).push(items.map(itemToYMap))
        },
        serverOrigin('api', userId),
      )
    })
    this.writeIn = registry.defineCall('record.write', (room, args): WriteVisit => {
      const state = etagOf(room.doc)
      if (args.state !== undefined) {
        if (room.unpersisted !== 0 || state !== args.state) return { written: false, state: null }
      } else if (args.etags !== undefined && !args.etags.includes('*') && !args.etags.includes(state))
        return { written: false, state: room.unpersisted === 0 ? state : null }
      const issues = writeChange(room, args)
      return issues.length > 0 ? { written: false, issues } : { written: true }
    })
    this.restoreIn = registry.defineCall('record.restore', (room, { userId }) => {
      const authority = authorityOf(room.doc)
      if (typeof authority.get('deleted') !== 'string') return false
      room.doc.transact(
        () => {
          authority.delete('deleted')
          authority.delete('deletedBy')
        },
        serverOrigin('api', userId),
      )
      return true
    })
  }

  get(workspace: string, collection: Collection, id: string): Promise<ApiRecord> {
    return this.reads.get(workspace, collection, id)
  }

  list(workspace: string, collection: Collection, query: ListQuery): Promise<RecordPage> {
    return this.reads.list(workspace, collection, query)
  }

  /** Records of a collection that `q` matches, best first (see RecordReads.search). */
  search(workspace: string, collection: Collection, q: string, limit: number): Promise<FoundRecord[]> {
    return this.reads.search(workspace, collection, q, limit)
  }

  /** Every live record of a collection (exports). */
  all(workspace: string, collection: Collection): Promise<ApiRecord[]> {
    return this.reads.all(workspace, collection)
  }

  history(workspace: string, collection: Collection, id: string): Promise<{ items: HistoryEntry[] }> {
    return this.reads.history(workspace, collection, id)
  }

  /** A record with its ETag, both from one read (see RecordReads.current). */
  current(workspace: string, collection: Collection, id: string): Promise<CurrentRecord> {
    return this.reads.current(workspace, collection, id)
  }

  /** `id`: a new record's id chosen by the caller (an import claims it for the row's key first). */
  async create(
    workspace: string,
    collection: Collection,
    input: Record<string, unknown>,
    userId: string,
    id = newRecordId(),
  ): Promise<ApiRecord> {
    const { notes, items, complete } = checkNew(collection, input)
    await this.createIn(recordDocName(workspace, collection, id), { collection, fields: complete, notes, items, userId })
    return this.get(workspace, collection, id)
  }

  /**
   * Applies a patch as one transaction on the live document. `ifMatch` makes it a
   * compare-and-set against the record's current ETag (StaleRecordError when it names an
   * older one).
   */
  async patch(
    workspace: string,
    collection: Collection,
    id: string,
    input: Record<string, unknown>,
    userId: string,
    ifMatch?: string,
  ): Promise<ApiRecord> {
    await this.reads.etag(workspace, collection, id)
    const { notes, items, fields } = splitInput(collection, input)
    await this.writeIfMatch(workspace, collection, id, ifMatch, userId, { kind: 'patch', fields, notes, items })
    return this.get(workspace, collection, id)
  }

  /** Soft-deletes a record; `ifMatch` as for `patch`. */
  async remove(workspace: string, collection: Collection, id: string, userId: string, ifMatch?: string): Promise<void> {
    await this.reads.etag(workspace, collection, id)
    await this.writeIfMatch(workspace, collection, id, ifMatch, userId, { kind: 'delete' })
  }

  /** Brings a soft-deleted record back; RecordError `not-found` when it is not deleted. */
  async restore(workspace: string, collection: Collection, id: string, userId: string): Promise<void> {
    const restored = await this.restoreIn(recordDocName(workspace, collection, id), { userId })
    if (!restored) throw new RecordError('not-found', `no deleted ${collection} record ${id}`)
  }

  /**
   * Writes `change` on the live document if `ifMatch` (when given) names its current state,
   * checked in the same turn as the write, so no edit can fall between the two.
   *
   * An `If-Match` may also name the ETag stored with the record by a version whose formula
   * differed (written before ETags covered deletions, the record not written since). That one
   * is read from the database, which takes a turn of its own: the write then happens on a
   * second visit to the document, only if it is still the state the stored ETag was read
   * beside (the same ETag of its own, everything applied on disk).
   */
  private async writeIfMatch(
    workspace: string,
    collection: Collection,
    id: string,
    ifMatch: string | undefined,
    userId: string,
    change: RecordChange,
  ): Promise<void> {
    const docName = recordDocName(workspace, collection, id)
    const etags = ifMatch?.split(',').map(stripQuotes)
    const visit = await this.writeIn(docName, { collection, userId, change, etags })
    if (visit.written) return
    if ('issues' in visit) throw new RecordError('invalid', 'the change is not valid', visit.issues)
    // The call returns once everything the live document held is on disk, so a row read from
    // here on is the state the check compared against, or newer: its ETag is the one a retry
    // must name, and the check accepts it while nothing else changes the record.
    const { state } = visit
    if (state !== null && etags!.includes(await this.reads.etag(workspace, collection, id))) {
      const again = await this.writeIn(docName, { collection, userId, change, state })
      if ('issues' in again) throw new RecordError('invalid', 'the change is not valid', again.issues)
      if (again.written) return
    }
    throw new StaleRecordError(await this.reads.current(workspace, collection, id))
  }
}

/** Writes a REST change into a record's document as one transaction; the issues that refused it, if any (nothing written then). */
function writeChange(room: AccordRoom, { collection, userId, change }: WriteArgs): FieldIssue[] {
  if (change.kind === 'delete') {
    room.doc.transact(
      () => {
        const authority = authorityOf(room.doc)
        authority.set('deleted', new Date().toISOString())
        // Whoever has the record open is told who deleted it, and may restore it.
        authority.set('deletedBy', userId)
      },
      serverOrigin('api', userId),
    )
    return []
  }
  const { fields, notes, items } = change
  const merged: FieldValues = readFields(room.doc, collection)
  for (const [key, value] of Object.entries(fields)) {
    if (value === null) delete merged[key]
    else merged[key] = value
  }
  const issues = [...checkRecord(collection, merged), ...(items ? checkItems(items) : [])]
  if (issues.length > 0) return issues
  room.doc.transact(
    () => {
      const map = fieldsOf(room.doc)
      for (const [key, value] of Object.entries(fields)) {
        if (isTextField(collection, key)) replaceText(textOf(room.doc, key), (value as string | null) ?? '')
        else if (value === null) map.delete(key)
        else if (JSON.stringify(map.get(key)) !== JSON.stringify(value)) map.set(key, value)
      }
      if (notes !== undefined) replaceText(notesOf(room.doc), notes)
      if (items) {
        const array = itemsOf(room.doc)
        array.delete(0, array.length)
        array.push(items.map(itemToYMap))
      }
    },
    serverOrigin('api', userId),
  )
  return []
}

/** One entity tag of an `If-Match` list, without its quotes (and weakness mark). */
function stripQuotes(value: string): string {
  return value.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
}

/** A new record's input checked as `create` takes it: its fields with the defaults, notes and items (RecordError `invalid` when it is not valid). */
export function checkNew(
  collection: Collection,
  input: Record<string, unknown>,
): { complete: FieldValues; notes?: string; items?: LineItem[] } {
  const { notes, items, fields } = splitInput(collection, input)
  const complete = { ...FIELD_DEFAULTS[collection], ...fields }
  const issues = [...checkRecord(collection, complete), ...(items ? checkItems(items) : [])]
  if (issues.length > 0) throw new RecordError('invalid', 'the record is not valid', issues)
  return { complete, notes, items }
}

/** Splits REST input into fields, notes and items, and checks field names and types. */
function splitInput(collection: Collection, input: Record<string, unknown>): { fields: FieldValues; notes?: string; items?: LineItem[] } {
  const issues: FieldIssue[] = []
  const fields: FieldValues = {}
  let notes: string | undefined
  let items: LineItem[] | undefined
  for (const [key, value] of Object.entries(input)) {
    if (key === 'notes') {
      if (typeof value !== 'string') issues.push({ path: 'notes', message: 'notes must be a string' })
      else notes = value
    } else if (key === 'items') {
      if (!HAS_ITEMS[collection]) issues.push({ path: 'items', message: `${collection} have no items` })
      else {
        const itemIssues = checkItems(value)
        if (itemIssues.length > 0) issues.push(...itemIssues)
        else items = value as LineItem[]
      }
    } else if (value === null) {
      const unknown = checkField(collection, key, '')
      if (unknown?.message.startsWith('unknown field')) issues.push(unknown)
      else fields[key] = null
    } else {
      const issue = checkField(collection, key, value)
      if (issue) issues.push(issue)
      else fields[key] = value
    }
  }
  if (issues.length > 0) throw new RecordError('invalid', 'the input is not valid', issues)
  return { fields, notes, items }
}
