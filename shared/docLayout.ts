/**
 * The layout of a record document, and how to read one into plain values. Pure.
 *
 * - `fields`    Y.Map  — scalar fields (strings, numbers, booleans, ISO dates, arrays of ids)
 * - `notes`     Y.Text — the long free text, merged character by character
 * - `items`     Y.Array<Y.Map> — line items of proposals and invoices
 * - `authority` Y.Map  — written only by the server (reservation, invoice number, deletion mark)
 * - `text.<field>` Y.Text — one per short text field of the collection (see textFields.ts)
 *
 * Top-level types are used on purpose: two clients that each create a nested Y.Text
 * under the same map key would silently lose one of them.
 */
import * as Y from 'yjs'
import type { Collection, FieldValues, LineItem } from './collections.js'
import { TEXT_FIELDS, readTexts } from './textFields.js'

export const FIELDS = 'fields'
export const NOTES = 'notes'
export const ITEMS = 'items'
export const AUTHORITY = 'authority'
/** Index documents: one Y.Map from record id to its summary. */
export const INDEX_ENTRIES = 'records'
/** Inbox documents: Y.Map from job id to job; Y.Array of notifications. */
export const INBOX_JOBS = 'jobs'
export const INBOX_NOTIFICATIONS = 'notifications'

export const RECORD_ROOTS = [FIELDS, NOTES, ITEMS, AUTHORITY] as const

export const fieldsOf = (doc: Y.Doc) => doc.getMap<unknown>(FIELDS)
export const notesOf = (doc: Y.Doc) => doc.getText(NOTES)
export const itemsOf = (doc: Y.Doc) => doc.getArray<Y.Map<unknown>>(ITEMS)
export const authorityOf = (doc: Y.Doc) => doc.getMap<unknown>(AUTHORITY)
export const indexEntriesOf = (doc: Y.Doc) => doc.getMap<IndexEntry>(INDEX_ENTRIES)

/** A record's summary in its collection's index document. */
export interface IndexEntry {
  id: string
  title: string
  fields: FieldValues
  authority: FieldValues
  /** The line items' total, for collections that have items (`HAS_ITEMS`); absent in entries written before it was kept. */
  total?: number
  updatedAt: string
  updatedBy: string | null
}

export interface RecordState {
  fields: FieldValues
  notes: string
  items: LineItem[]
  authority: FieldValues
}

/** What one key of a map holds: nothing, a plain JSON value, or something else (a shared type, a format mark, an embed, bytes). */
export type MapEntry = { kind: 'absent' } | { kind: 'plain'; value: unknown } | { kind: 'other' }

/**
 * Reads one key of a map without converting what it holds: only a plain JSON value (what
 * `Y.Map#set` stores for a string, number, boolean, array or object) counts as a value. A
 * shared type's `toJSON()` would read like a valid value while anyone may keep editing
 * inside it, out of reach of the checks made on the map's keys.
 */
export function mapEntryOf(map: Y.Map<unknown>, key: string): MapEntry {
  const item = map._map.get(key)
  if (!item || item.deleted) return { kind: 'absent' }
  if (!(item.content instanceof Y.ContentAny)) return { kind: 'other' }
  return { kind: 'plain', value: item.content.getContent()[item.length - 1] }
}

/** The plain JSON values of a map; keys holding anything else are left out (see `mapEntryOf`). */
export function readPlainMap(map: Y.Map<unknown>): FieldValues {
  const values: FieldValues = {}
  for (const key of map._map.keys()) {
    const entry = mapEntryOf(map, key)
    // A key "__proto__" is defined, as any other, rather than assigned (which would set the prototype).
    if (entry.kind === 'plain')
      Object.defineProperty(values, key, { value: entry.value, enumerable: true, writable: true, configurable: true })
  }
  return values
}

export function readItems(doc: Y.Doc): LineItem[] {
  return itemsOf(doc)
    .toArray()
    .filter((item): item is Y.Map<unknown> => item instanceof Y.Map)
    .map((item) => readPlainMap(item) as LineItem)
}

/**
 * A record's field values: the plain values of `fields` and the strings of its text roots.
 * A text field still held as a plain string in `fields` (a document not migrated yet, or a
 * stock client's own write before the server moved it) reads as that string until its
 * text root holds text.
 */
export function readFields(doc: Y.Doc, collection: Collection): FieldValues {
  const fields = readPlainMap(fieldsOf(doc))
  for (const field of TEXT_FIELDS[collection]) if (typeof fields[field] !== 'string' || fields[field] === '') delete fields[field]
  return { ...fields, ...readTexts(doc, collection) }
}

/** A record's plain values: what the projection, the REST API and the authorities read. */
export function readRecord(doc: Y.Doc, collection: Collection): RecordState {
  return {
    fields: readFields(doc, collection),
    notes: notesOf(doc).toString(),
    items: readItems(doc),
    authority: readPlainMap(authorityOf(doc)),
  }
}

export function itemToYMap(item: LineItem): Y.Map<unknown> {
  return new Y.Map<unknown>(Object.entries(item))
}

export type RootKind = 'map' | 'text' | 'array'

/** The shared types at the top of each kind of document, with their Yjs type. */
export const ROOTS_BY_KIND = {
  record: { [FIELDS]: 'map', [NOTES]: 'text', [ITEMS]: 'array', [AUTHORITY]: 'map' },
  index: { [INDEX_ENTRIES]: 'map' },
  inbox: { [INBOX_JOBS]: 'map', [INBOX_NOTIFICATIONS]: 'array' },
} as const satisfies Record<'record' | 'index' | 'inbox', Record<string, RootKind>>

/** Instantiates the typed roots of a document of the given kind (so observers and undo see them). */
export function typedRoots(doc: Y.Doc, kind: keyof typeof ROOTS_BY_KIND): Y.AbstractType<Y.YEvent<never>>[] {
  return Object.entries(ROOTS_BY_KIND[kind]).map(([name, type]) => {
    const root = type === 'map' ? doc.getMap(name) : type === 'text' ? doc.getText(name) : doc.getArray(name)
    return root as unknown as Y.AbstractType<Y.YEvent<never>>
  })
}
