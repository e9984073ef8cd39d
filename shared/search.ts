/**
 * What a search of records matches, stated once: a substring of a record's field values or of
 * its notes, ASCII letters in either case and every other character as written. The values
 * are the fields' top-level strings and numbers (a number as its JSON text: `1500`, `1500.5`)
 * and the strings and numbers inside a top-level array (a customer's tags); reference fields
 * (`REFERENCES`) are left out. A field's name and the JSON around the values never match.
 *
 * The databases search a text made of these values (`searchText`, stored with each record's
 * projection) and the notes; this module also says where in a found record the match is
 * (`GET /api/search`'s `match`). Pure: no I/O.
 */
import { type Collection, type FieldValues, REFERENCES, TITLE_FIELDS } from './collections.js'

/** Longest search text `GET /api/search` takes, in UTF-16 code units. */
export const MAX_SEARCH_LENGTH = 200
/** Characters of context shown each side of a match, cut at whole words. @default 40 */
export const SNIPPET_CONTEXT = 40

/** Where a record matched: the field (`notes` for the notes) and the words around the match. */
export interface SearchMatch {
  field: string
  snippet: string
}

/** One record `GET /api/search` found. */
export interface SearchHit {
  collection: Collection
  id: string
  title: string
  match: SearchMatch
}

/** A search's view of a record: its fields as stored and its notes. */
export interface Searchable {
  fields: FieldValues
  notes: string
}

/**
 * Between two values in a record's search text (`searchText`): U+001F, the unit separator. A
 * query without it matches the search text exactly where it matches one value; a query holding
 * it finds nothing, as one holding a NUL.
 */
export const SEARCH_SEPARATOR = '\u001f'

/**
 * The text the databases search for a record (the `search_text` column of its projection,
 * server/records/recordProjection.ts): its searched values, in `searchedValues` order,
 * separated by SEARCH_SEPARATOR. The notes have a column of their own.
 */
export function searchText(collection: Collection, fields: FieldValues): string {
  return searchedValues(collection, fields)
    .map((value) => value.text)
    .join(SEARCH_SEPARATOR)
}

/** Whether a query can match anything: none holds a NUL (no stored text does) or SEARCH_SEPARATOR. */
export function searchable(query: string): boolean {
  return query !== '' && !query.includes('\0') && !query.includes(SEARCH_SEPARATOR)
}

/** Folds ASCII letters only, as SQLite's LIKE and PostgreSQL's ILIKE under the "C" collation do. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())
}

/** The values a search looks at, as text, the title field's first. */
export function searchedValues(collection: Collection, fields: FieldValues): { field: string; text: string }[] {
  const skipped = REFERENCES[collection]
  const title = TITLE_FIELDS[collection]
  const names = Object.keys(fields).filter((name) => !Object.hasOwn(skipped, name))
  if (title !== null && names.includes(title)) names.sort((a, b) => Number(b === title) - Number(a === title))
  const values: { field: string; text: string }[] = []
  for (const field of names) {
    const value = fields[field]
    for (const element of Array.isArray(value) ? value : [value]) {
      if (typeof element === 'string') values.push({ field, text: element })
      else if (typeof element === 'number') values.push({ field, text: JSON.stringify(element) })
    }
  }
  return values
}

/** Where `query` matches `record` (its title field first, then its other values, then its notes); null for nowhere. */
export function matchIn(collection: Collection, record: Searchable, query: string): SearchMatch | null {
  if (!searchable(query)) return null
  const needle = asciiLower(query)
  for (const { field, text } of [...searchedValues(collection, record.fields), { field: 'notes', text: record.notes }]) {
    const at = asciiLower(text).indexOf(needle)
    if (at !== -1) return { field, snippet: snippetAround(text, at, needle.length) }
  }
  return null
}

/**
 * `text` around the `length` characters at `at`: about SNIPPET_CONTEXT characters each side,
 * cut at whole words, runs of white space as one space, `…` where something was left out.
 */
export function snippetAround(text: string, at: number, length: number): string {
  let from = Math.max(0, at - SNIPPET_CONTEXT)
  if (from > 0) from = Math.min(at, text.slice(from).search(/\s/) + from + 1)
  let to = Math.min(text.length, at + length + SNIPPET_CONTEXT)
  if (to < text.length) to = Math.max(at + length, text.slice(0, to).search(/\s\S*$/))
  return `${from > 0 ? '…' : ''}${text.slice(from, to).replace(/\s+/g, ' ').trim()}${to < text.length ? '…' : ''}`
}
