/**
 * Records through the REST API: every write is a transaction on the live document (so it
 * merges with open editors and is persisted like any edit); reads come from the `records`
 * projection (RecordReads), written in the same transaction as the updates.
 */
import type * as Y from 'yjs'
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
import type { ApiRecord, CurrentRecord, ListQuery, RecordReads } from './RecordReads.js'
import { etagOf } from './recordProjection.js'
import { StaleRecordError } from './StaleRecordError.js'

export class RecordService {
  constructor(
    private readonly registry: AccordRegistry,
    readonly reads: RecordReads,
  ) {}

  get(workspace: string, collection: Collection, id: string): ApiRecord {
    return this.reads.get(workspace, collection, id)
  }

  list(workspace: string, collection: Collection, query: ListQuery): { items: ApiRecord[]; nextCursor: string | null } {
    return this.reads.list(workspace, collection, query)
  }

  /** Every live record of a collection (exports). */
  all(workspace: string, collection: Collection): ApiRecord[] {
    return this.reads.all(workspace, collection)
  }

  history(workspace: string, collection: Collection, id: string) {
    return this.reads.history(workspace, collection, id)
  }

  /** A record with its ETag, both from one read (see RecordReads.current). */
  current(workspace: string, collection: Collection, id: string): CurrentRecord {
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
    const { notes, items, fields } = splitInput(collection, input)
    const complete = { ...FIELD_DEFAULTS[collection], ...fields }
    const issues = [...checkRecord(collection, complete), ...(items ? checkItems(items) : [])]
    if (issues.length > 0) throw new RecordError('invalid', 'the record is not valid', issues)
    await this.registry.use(recordDocName(workspace, collection, id), (room) => {
      room.doc.transact(
        () => {
          const map = fieldsOf(room.doc)
          for (const [key, value] of Object.entries(complete)) {
            if (!isTextField(collection, key)) map.set(key, value)
            else if (value !== '') textOf(room.doc, key).insert(0, value as string)
          }
          if (notes) notesOf(room.doc).insert(0, notes)
          if (items) itemsOf(room.doc).push(items.map(itemToYMap))
        },
        serverOrigin('api', userId),
      )
    })
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
    this.reads.row(workspace, collection, id)
    const { notes, items, fields } = splitInput(collection, input)
    await this.writeIfMatch(workspace, collection, id, ifMatch, (room) => {
      const merged: FieldValues = readFields(room.doc, collection)
      for (const [key, value] of Object.entries(fields)) {
        if (value === null) delete merged[key]
        else merged[key] = value
      }
      const issues = [...checkRecord(collection, merged), ...(items ? checkItems(items) : [])]
      if (issues.length > 0) throw new RecordError('invalid', 'the change is not valid', issues)
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
    })
    return this.get(workspace, collection, id)
  }

  /** Soft-deletes a record; `ifMatch` as for `patch`. */
  async remove(workspace: string, collection: Collection, id: string, userId: string, ifMatch?: string): Promise<void> {
    this.reads.row(workspace, collection, id)
    await this.writeIfMatch(workspace, collection, id, ifMatch, (room) => {
      room.doc.transact(() => authorityOf(room.doc).set('deleted', new Date().toISOString()), serverOrigin('api', userId))
    })
  }

  /**
   * Runs `write` on the live document if `ifMatch` (when given) names its current state,
   * checked in the same turn as the write, so no edit can fall between the two.
   */
  private async writeIfMatch(
    workspace: string,
    collection: Collection,
    id: string,
    ifMatch: string | undefined,
    write: (room: AccordRoom) => void,
  ): Promise<void> {
    const matched = await this.registry.use(recordDocName(workspace, collection, id), (room) => {
      if (ifMatch !== undefined && !this.matches(room, workspace, collection, id, ifMatch)) return false
      write(room)
      return true
    })
    // `use` returns once everything the live document held is on disk, so the row read
    // here is the state the check compared against, or newer: its ETag is the one a retry
    // must name, and `matches` accepts it while nothing else changes the record.
    if (!matched) throw new StaleRecordError(this.reads.current(workspace, collection, id))
  }

  /**
   * Whether an `If-Match` header names the record's current state: `*`, or one of its
   * ETags equal to the live document's, or, when everything applied is on disk, to the one
   * stored with it (written before ETags covered deletions, by a version that has not
   * written the record since).
   */
  private matches(room: AccordRoom, workspace: string, collection: Collection, id: string, ifMatch: string): boolean {
    const etags = ifMatch.split(',').map(stripQuotes)
    if (etags.includes('*') || etags.includes(etagOf(room.doc))) return true
    return room.unpersisted === 0 && etags.includes(this.reads.row(workspace, collection, id).etag)
  }
}

/** One entity tag of an `If-Match` list, without its quotes (and weakness mark). */
function stripQuotes(value: string): string {
  return value.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
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
