/**
 * The gate's rules for text fields (shared/textFields.ts): each is a top-level Y.Text
 * `text.<field>`, merged character by character. A text root holds text only (no embeds,
 * format marks or embedded types, as the notes), within its field's schema (its maximum
 * length, an e-mail's format), and a required one may not be emptied once the record is
 * complete. What breaks a rule is restored to the last valid text.
 *
 * A stock y-websocket client knows nothing of text roots and sets `fields.title` to a plain
 * string: the server moves that string into the text root (replacing the whole text) and
 * removes the `fields` key, in the compensating server transaction of the same update. The
 * text it replaced is returned (`TextOverwrite`), for reporting the overwrite.
 */
import type * as Y from 'yjs'
import { type Collection, type FieldIssue, type FieldValues, REQUIRED_FIELDS, checkField, isComplete } from '../../shared/collections.js'
import { fieldsOf, mapEntryOf, readFields } from '../../shared/docLayout.js'
import { TEXT_FIELDS, isTextField, replaceText, textOf, textRootName } from '../../shared/textFields.js'
import type { AnyType } from '../sync/typeTree.js'
import { type Touched, deleteMapPart, hasMapPart, notTextItems, plainOf } from './gateTypes.js'

type Issues = (FieldIssue & { reason: 'invalid' | 'authority' })[]
type Fixes = (() => void)[]

/** A stock client's plain string replaced a text that held something else. */
export interface TextOverwrite {
  /** `fields.<field>`: where the plain string was written. */
  path: string
  field: string
  /** The text it replaced. */
  replaced: string
  /** The text the field holds now. */
  value: string
  /** The Yjs client ids that wrote the text it replaced (their users are the other party). */
  clients: number[]
}

export class TextGate {
  private lastTexts = new Map<string, string>()
  private lastComplete = false

  constructor(
    private readonly doc: Y.Doc,
    private readonly collection: Collection,
  ) {
    // Typed now, for the reason the notes are (see RecordGate's constructor).
    for (const field of TEXT_FIELDS[collection]) textOf(doc, field)
    this.accept()
  }

  /** The root names this collection's records may hold besides the fixed ones. */
  rootNames(): string[] {
    return TEXT_FIELDS[this.collection].map(textRootName)
  }

  /** Whether the gate's `fields` checks leave this key to `convertPlain` (a text field not holding a shared type). */
  handlesKey(key: string): boolean {
    return isTextField(this.collection, key) && mapEntryOf(fieldsOf(this.doc), key).kind !== 'other'
  }

  accept(): void {
    for (const field of TEXT_FIELDS[this.collection]) this.lastTexts.set(field, textOf(this.doc, field).toString())
    this.lastComplete = isComplete(this.collection, readFields(this.doc, this.collection))
  }

  /** Checks the text roots a transaction touched; invalid ones go back to their last valid text. */
  checkRoots(tr: Y.Transaction, touched: Map<AnyType, Touched>, issues: Issues, fixes: Fixes): void {
    for (const field of TEXT_FIELDS[this.collection]) {
      const text = textOf(this.doc, field)
      const at = touched.get(text as AnyType)
      if (!at) continue
      const notText = notTextItems(tr, text as AnyType, at)
      const strayMap = hasMapPart(at)
      if (notText.size > 0 || strayMap) issues.push({ path: field, message: `${field} holds plain text only`, reason: 'invalid' })
      const issue = this.textIssue(field, text.toString())
      if (issue) issues.push({ ...issue, reason: 'invalid' })
      if (notText.size === 0 && !strayMap && !issue) continue
      const last = this.lastTexts.get(field) ?? ''
      fixes.push(() => {
        const revertTr = this.doc._transaction
        if (revertTr) for (const item of notText) if (!item.deleted) item.delete(revertTr)
        if (strayMap) deleteMapPart(text as AnyType)
        if (issue) replaceText(text, last)
      })
    }
  }

  /**
   * Plain values a stock client set on text fields' keys of `fields`: a valid string is moved
   * into the text root, replacing its text; an invalid one is refused. Either way the key is
   * removed. Returns what the moves replaced.
   */
  convertPlain(keys: Iterable<string>, issues: Issues, fixes: Fixes): TextOverwrite[] {
    const fields = fieldsOf(this.doc)
    const overwrites: TextOverwrite[] = []
    for (const key of keys) {
      if (!this.handlesKey(key)) continue
      const entry = mapEntryOf(fields, key)
      if (entry.kind !== 'plain') continue
      const value = entry.value
      const issue = typeof value === 'string' ? this.textIssue(key, value) : checkField(this.collection, key, value)
      if (issue || typeof value !== 'string') {
        issues.push({ ...(issue ?? { path: key, message: `${key} must be text` }), reason: 'invalid' })
        fixes.push(() => fields.delete(key))
        continue
      }
      const text = textOf(this.doc, key)
      const replaced = text.toString()
      if (replaced !== '' && replaced !== value)
        overwrites.push({ path: `fields.${key}`, field: key, replaced, value, clients: writersOf(text) })
      fixes.push(() => {
        fields.delete(key)
        replaceText(text, value)
      })
    }
    return overwrites
  }

  /**
   * Migrates a stored record as it loads: a text field held in `fields` (a plain string, as
   * records were stored before text roots, or a shared type an older server let in) is moved
   * into its text root and the key removed. A shared type gives way to its string when that
   * is valid, else to the stored projection's (`stored`).
   */
  repairPlan(stored: () => FieldValues | undefined, issues: Issues, fixes: Fixes): void {
    const fields = fieldsOf(this.doc)
    for (const field of TEXT_FIELDS[this.collection]) {
      const entry = mapEntryOf(fields, field)
      if (entry.kind === 'absent') continue
      const candidates = entry.kind === 'plain' ? [entry.value] : [plainOf(fields.get(field)), stored()?.[field]]
      const value = candidates.find((v): v is string => typeof v === 'string' && checkField(this.collection, field, v) === null)
      if (entry.kind === 'plain' && value === undefined) continue
      issues.push({ path: field, message: `${field} moved from fields into ${textRootName(field)}`, reason: 'invalid' })
      fixes.push(() => {
        fields.delete(field)
        if (value !== undefined) replaceText(textOf(this.doc, field), value)
      })
    }
  }

  /** What is wrong with a text field's text: its schema, or a required field emptied once the record was complete. */
  private textIssue(field: string, value: string): FieldIssue | null {
    if (value !== '') return checkField(this.collection, field, value)
    return this.lastComplete && REQUIRED_FIELDS[this.collection].includes(field) ? { path: field, message: `${field} is required` } : null
  }
}

/** The client ids of the characters a text shows. */
function writersOf(text: Y.Text): number[] {
  const clients = new Set<number>()
  for (let item = text._start; item !== null; item = item.right) if (!item.deleted) clients.add(item.id.client)
  return [...clients]
}
