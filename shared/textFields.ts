/**
 * Short text fields people type into (titles, names, company, e-mail, phone, room, source)
 * are collaborative text: each is a top-level Y.Text named `text.<field>`, merged character
 * by character like the notes, so two people typing into one title at once both keep what
 * they typed. Pure.
 *
 * A text field is present when its text is not empty: an empty text reads as a missing
 * field (for the required-field rule and `isComplete`), so "cleared" and "never set" are one
 * state. To API clients, index entries and exports it is still a string.
 */
import type * as Y from 'yjs'
import type { Collection, FieldValues } from './collections.js'

/** Prefix of a text field's root: `text.title`. */
export const TEXT_ROOT_PREFIX = 'text.'

/** The fields of each collection held as collaborative text, one root each. */
export const TEXT_FIELDS: Record<Collection, readonly string[]> = {
  customers: ['name', 'email', 'phone', 'company'],
  leads: ['name', 'email', 'company', 'source'],
  deals: ['title'],
  proposals: ['title'],
  invoices: [],
  events: ['title', 'room'],
  tasks: ['title'],
}

export function isTextField(collection: Collection, field: string): boolean {
  return TEXT_FIELDS[collection].includes(field)
}

/** The root name of a text field: `text.<field>`. */
export const textRootName = (field: string): string => `${TEXT_ROOT_PREFIX}${field}`

/** A text field's Y.Text. */
export const textOf = (doc: Y.Doc, field: string): Y.Text => doc.getText(textRootName(field))

/** The text roots of a collection's record, instantiated as Y.Text. */
export function textRootsOf(doc: Y.Doc, collection: Collection): Y.Text[] {
  return TEXT_FIELDS[collection].map((field) => textOf(doc, field))
}

/** The collection's text fields that hold text, with their strings (empty ones are missing). */
export function readTexts(doc: Y.Doc, collection: Collection): FieldValues {
  const values: FieldValues = {}
  for (const field of TEXT_FIELDS[collection]) {
    const value = textOf(doc, field).toString()
    if (value !== '') values[field] = value
  }
  return values
}

/** One edit turning a string into another: remove `remove` characters at `index`, insert `insert` there. */
export interface TextEdit {
  index: number
  remove: number
  insert: string
}

/**
 * The smallest single edit that turns `from` into `to`. `caret` (where the caret stands in
 * `to` after a keystroke) places an edit inside a run of equal characters where it was
 * made: typing `a` before "aa" inserts at 0, not at 2, which matters when others type there.
 */
export function textEdit(from: string, to: string, caret?: number): TextEdit {
  const shortest = Math.min(from.length, to.length)
  let end = 0
  const suffixLimit = caret === undefined ? shortest : Math.min(shortest, to.length - caret)
  while (end < suffixLimit && from[from.length - 1 - end] === to[to.length - 1 - end]) end++
  let start = 0
  while (start < shortest - end && from[start] === to[start]) start++
  return { index: start, remove: from.length - start - end, insert: to.slice(start, to.length - end) }
}

/** Makes `text` read `value` with the smallest edit (so edits others make meanwhile merge around it); call inside a transaction. */
export function replaceText(text: Y.Text, value: string, caret?: number): void {
  const current = text.toString()
  if (current === value) return
  const edit = textEdit(current, value, caret)
  if (edit.remove > 0) text.delete(edit.index, edit.remove)
  if (edit.insert) text.insert(edit.index, edit.insert)
}
