/**
 * The validation gate of record documents (docs/architecture.md, "The write path").
 *
 * After a client's update is applied, every part of the record it changed is checked
 * against the collection schema. Whatever is invalid is restored to its last valid value
 * in a compensating transaction, so the sender and every other client converge on a valid
 * state, while the valid parts of the same update survive.
 *
 * A change is attributed to its place however deep it happened: an edit inside a shared
 * type is an edit of the field, line item or notes that holds it. Defends against a
 * client that sets a field to a Y.Text (or Y.Map, Y.Array) holding a valid value and then
 * edits inside it, where no key of `fields` changes and `toJSON()` hides the type: a
 * field holds a plain JSON value and nothing else, `notes` holds text and the formats of
 * shared/richText.ts only (no embeds), each line item is a Y.Map of plain values, and
 * `authority` is written by the server only. The
 * text roots of short text fields (`text.<field>`) are checked by `TextGate` (textGate.ts).
 */
import * as Y from 'yjs'
import {
  type Collection,
  type FieldIssue,
  type FieldValues,
  MAX_ITEMS,
  MAX_NOTES_LENGTH,
  REQUIRED_FIELDS,
  checkCrossField,
  checkField,
  itemSchema,
} from '../../shared/collections.js'
import { noteFormatIssue } from '../../shared/richText.js'
import { isTextField } from '../../shared/textFields.js'
import {
  AUTHORITY,
  FIELDS,
  ITEMS,
  NOTES,
  RECORD_ROOTS,
  authorityOf,
  fieldsOf,
  itemsOf,
  mapEntryOf,
  notesOf,
  readPlainMap,
} from '../../shared/docLayout.js'
import { type AnyType, rootName } from '../sync/typeTree.js'
import {
  type Touched,
  deleteListPart,
  deleteMapPart,
  hasListPart,
  hasLiveList,
  hasLiveMap,
  hasMapPart,
  notTextItems,
  plainOf,
  touchedRoots,
} from './gateTypes.js'
import { type TextOverwrite, TextGate } from './textGate.js'

export type RejectReason = 'invalid' | 'authority'

export interface GateResult {
  /** What was wrong, for the sender. Empty when the transaction was valid. */
  issues: (FieldIssue & { reason: RejectReason })[]
  /** Applies the compensating changes; call inside a transaction. */
  revert: (() => void) | null
  /** Texts a stock client's plain string replaced (see textGate.ts), for reporting the overwrite. */
  textOverwrites?: TextOverwrite[]
}

type Issues = GateResult['issues']
type Fixes = (() => void)[]

const NOT_PLAIN = 'must be a plain value, not a shared type'

export interface RecordGateOptions {
  /** Whether a user id belongs to the record's workspace (a mention in the notes must). @default any well-formed id */
  isUser?: (userId: string) => boolean
}

/**
 * Remembers a record document's last valid field values and checks transactions
 * against them. One per loaded record document.
 */
export class RecordGate {
  private lastFields: FieldValues
  private lastAuthority: FieldValues
  private readonly lastItems = new WeakMap<Y.Map<unknown>, FieldValues>()
  private readonly texts: TextGate

  constructor(
    private readonly doc: Y.Doc,
    private readonly collection: Collection,
    private readonly options: RecordGateOptions = {},
  ) {
    this.lastFields = readPlainMap(fieldsOf(doc))
    this.lastAuthority = readPlainMap(authorityOf(doc))
    this.acceptItems()
    // Instantiate the notes root now: if it were first typed by `checkNotes` during a check,
    // the generic root the incoming update created would no longer be in `doc.share` and
    // `checkUnknownRoots` would delete the first text a client typed into the notes.
    notesOf(doc)
    this.texts = new TextGate(doc, collection)
  }

  /** Records the current state as valid (after server writes and accepted client writes). */
  accept(): void {
    this.lastFields = readPlainMap(fieldsOf(this.doc))
    this.lastAuthority = readPlainMap(authorityOf(this.doc))
    this.acceptItems()
    this.texts.accept()
  }

  /** Items written by the server (REST create/patch) are valid too: an invalid client edit restores them, not deletes them. */
  private acceptItems(): void {
    for (const item of itemsOf(this.doc)) if (item instanceof Y.Map) this.lastItems.set(item, readPlainMap(item))
  }

  /** Checks a transaction made by a client. */
  check(tr: Y.Transaction): GateResult {
    const issues: Issues = []
    const fixes: Fixes = []
    const touched = touchedRoots(tr)
    const at = (root: AnyType) => touched.get(root)
    this.checkFields(at(fieldsOf(this.doc) as AnyType), issues, fixes)
    this.checkAuthority(at(authorityOf(this.doc) as AnyType), issues, fixes)
    this.checkItems(at(itemsOf(this.doc) as AnyType), issues, fixes)
    this.checkNotes(tr, at(notesOf(this.doc) as AnyType), issues, fixes)
    this.texts.checkRoots(tr, touched, issues, fixes)
    const textOverwrites = this.texts.convertPlain(changedKeys(at(fieldsOf(this.doc) as AnyType)), issues, fixes)
    this.checkUnknownRoots(touched, issues, fixes)

    const revert = fixes.length > 0 ? () => fixes.forEach((fix) => fix()) : null
    if (!revert) this.accept()
    return { issues, revert, textOverwrites }
  }

  /**
   * Checks the whole stored document, as it loads, for what the gate now refuses but an
   * older server let in (a shared type in a field, non-text in the notes, a line item that
   * is not a map of plain values). The repair puts back the field's plain value when it
   * passes the schema, else the value of the stored projection (`stored`) when that does,
   * else removes the field; it empties what else is out of place. Run the repair inside a
   * server transaction so it is persisted like any write.
   */
  repairPlan(stored: () => FieldValues | undefined): GateResult {
    const issues: Issues = []
    const fixes: Fixes = []
    const fields = fieldsOf(this.doc)
    this.texts.repairPlan(stored, issues, fixes)
    for (const key of fields.keys()) {
      if (mapEntryOf(fields, key).kind !== 'other' || isTextField(this.collection, key)) continue
      const kept = stored()
      const candidates = [plainOf(fields.get(key)), kept && ownValue(kept, key)]
      const value = candidates.find((v) => v !== undefined && checkField(this.collection, key, v) === null)
      issues.push({ path: key, message: `${key} ${NOT_PLAIN}`, reason: 'invalid' })
      fixes.push(() => restoreKey(fields, key, value))
    }
    if (hasLiveList(fields)) fixes.push(() => deleteListPart(fields))
    const authority = authorityOf(this.doc)
    if ([...authority.keys()].some((key) => mapEntryOf(authority, key).kind !== 'plain') || hasLiveList(authority)) {
      const plain: FieldValues = {}
      for (const key of authority.keys()) {
        const value = plainOf(authority.get(key))
        if (value !== undefined) plain[key] = value
      }
      issues.push({ path: AUTHORITY, message: 'authority fields hold plain values only', reason: 'invalid' })
      fixes.push(() => restoreMap(authority, plain))
    }
    const items = itemsOf(this.doc)
    let index = 0
    for (let struct = items._start; struct !== null; struct = struct.right) {
      if (struct.deleted) continue
      const type: unknown = struct.content instanceof Y.ContentType ? struct.content.type : null
      const map = type instanceof Y.Map ? (type as Y.Map<unknown>) : null
      index += struct.countable ? struct.length : 0
      if (map && itemProblem(map) === null) continue
      const value = map ? plainOf(map) : undefined
      const valid = map !== null && itemSchema.safeParse(value).success
      issues.push({ path: `${ITEMS}.${index - 1}`, message: 'a line item is a map of plain values', reason: 'invalid' })
      fixes.push(() => {
        const tr = this.doc._transaction
        if (map && valid) restoreMap(map, value as FieldValues)
        else if (tr && !struct.deleted) struct.delete(tr)
      })
    }
    if (hasLiveMap(items)) fixes.push(() => deleteMapPart(items))
    const notes = notesOf(this.doc)
    const notText: Y.Item[] = []
    for (let item = notes._start; item !== null; item = item.right)
      if (!item.deleted && !(item.content instanceof Y.ContentString) && formatIssue(item) !== null) notText.push(item)
    if (notText.length > 0 || hasLiveMap(notes)) {
      issues.push({ path: NOTES, message: NOTES_CONTENT, reason: 'invalid' })
      fixes.push(() => {
        const tr = this.doc._transaction
        if (tr) for (const item of notText) item.delete(tr)
        deleteMapPart(notes)
      })
    }
    if (fixes.length > 0 && issues.length === 0) issues.push({ path: '(document)', message: 'content out of place', reason: 'invalid' })
    return { issues, revert: fixes.length > 0 ? () => fixes.forEach((fix) => fix()) : null }
  }

  private checkFields(touched: Touched | undefined, issues: Issues, fixes: Fixes): void {
    if (!touched) return
    const fields = fieldsOf(this.doc)
    const changed = new Set([...changedKeys(touched)].filter((key) => !this.texts.handlesKey(key)))
    const badFields = new Set<string>()
    const bad = (issue: FieldIssue) => {
      issues.push({ ...issue, reason: 'invalid' })
      badFields.add(issue.path)
    }
    for (const key of changed) {
      const entry = mapEntryOf(fields, key)
      if (entry.kind === 'other') bad({ path: key, message: `${key} ${NOT_PLAIN}` })
      else if (entry.kind === 'absent') {
        if (REQUIRED_FIELDS[this.collection].includes(key) && ownValue(this.lastFields, key) !== undefined)
          bad({ path: key, message: `${key} is required` })
      } else {
        const issue = checkField(this.collection, key, entry.value)
        if (issue) bad(issue)
      }
    }
    if (changed.size > 0) {
      const candidate = readPlainMap(fields)
      for (const key of badFields) candidate[key] = ownValue(this.lastFields, key)
      for (const issue of checkCrossField(this.collection, candidate)) {
        if (changed.has(issue.path) && !badFields.has(issue.path)) bad(issue)
      }
    }
    const strayList = hasListPart(touched)
    if (strayList) issues.push({ path: FIELDS, message: 'fields hold named values only', reason: 'invalid' })
    if (badFields.size === 0 && !strayList) return
    fixes.push(() => {
      for (const key of badFields) restoreKey(fields, key, ownValue(this.lastFields, key))
      if (strayList) deleteListPart(fields)
    })
  }

  private checkAuthority(touched: Touched | undefined, issues: Issues, fixes: Fixes): void {
    if (!touched) return
    issues.push({ path: AUTHORITY, message: 'authority fields are written by the server only', reason: 'authority' })
    fixes.push(() => restoreMap(authorityOf(this.doc), this.lastAuthority))
  }

  private checkItems(touched: Touched | undefined, issues: Issues, fixes: Fixes): void {
    if (!touched) return
    const items = itemsOf(this.doc)
    const toDelete = new Set<AnyType>()
    const toRestore: [Y.Map<unknown>, FieldValues][] = []
    /** Valid items this transaction added: the ones to drop again past MAX_ITEMS. */
    const added = new Set<unknown>()
    let index = 0
    for (const item of items) {
      if (!(item instanceof Y.Map)) {
        issues.push({ path: `${ITEMS}.${index}`, message: 'a line item is a map of values', reason: 'invalid' })
        toDelete.add(item as AnyType)
      } else {
        const problem = itemProblem(item)
        if (problem === null) {
          if (!this.lastItems.has(item)) added.add(item)
          this.lastItems.set(item, readPlainMap(item))
        } else {
          const last = this.lastItems.get(item)
          issues.push({ path: `${ITEMS}.${index}`, message: problem, reason: 'invalid' })
          if (last) toRestore.push([item, last])
          else toDelete.add(item)
        }
      }
      index++
    }
    const strayMap = hasMapPart(touched)
    if (strayMap) issues.push({ path: ITEMS, message: 'items hold a list only', reason: 'invalid' })
    if (items.length - toDelete.size > MAX_ITEMS) issues.push({ path: ITEMS, message: `at most ${MAX_ITEMS} items`, reason: 'invalid' })
    if (toDelete.size === 0 && toRestore.length === 0 && items.length <= MAX_ITEMS && !strayMap) return
    fixes.push(() => {
      for (const [item, last] of toRestore) restoreMap(item, last)
      if (strayMap) deleteMapPart(items)
      let excess = items.length - toDelete.size - MAX_ITEMS
      for (let i = items.length - 1; i >= 0; i--) {
        const item = items.get(i) as unknown
        if (toDelete.has(item as AnyType)) items.delete(i, 1)
        else if (excess > 0 && added.has(item)) {
          items.delete(i, 1)
          excess--
        }
      }
    })
  }

  /**
   * Notes hold text and accepted format marks only (shared/richText.ts): whatever else this
   * transaction put into them (embeds, embedded types, other formats or values, a mention of
   * someone outside the workspace, named entries, or anything inside those) is taken out
   * again; then, past MAX_NOTES_LENGTH, what this transaction inserted is taken out too.
   */
  private checkNotes(tr: Y.Transaction, touched: Touched | undefined, issues: Issues, fixes: Fixes): void {
    if (!touched) return
    const notes = notesOf(this.doc)
    const notText = notTextItems(tr, notes as AnyType, touched)
    const formatIssues = new Set<string>()
    for (const item of notText) {
      const issue = item.parentSub === null ? formatIssue(item, this.options.isUser) : NOTES_CONTENT
      if (issue === null) notText.delete(item)
      else formatIssues.add(issue)
    }
    const strayMap = hasMapPart(touched)
    if (strayMap) formatIssues.add(NOTES_CONTENT)
    for (const message of formatIssues) issues.push({ path: NOTES, message, reason: 'invalid' })
    let length = notes.length
    for (const item of notText) if (item.parentSub === null && item.countable) length -= item.length
    const tooLong = length > MAX_NOTES_LENGTH
    if (tooLong) issues.push({ path: NOTES, message: `notes hold at most ${MAX_NOTES_LENGTH} characters`, reason: 'invalid' })
    if (notText.size === 0 && !strayMap && !tooLong) return
    fixes.push(() => {
      const revertTr = this.doc._transaction
      if (!revertTr) return
      for (const item of notText) if (!item.deleted) item.delete(revertTr)
      if (strayMap) deleteMapPart(notes)
      if (!tooLong) return
      for (let item = notes._start; item !== null; item = item.right) {
        if (!item.deleted && item.id.clock >= (tr.beforeState.get(item.id.client) ?? 0)) item.delete(revertTr)
      }
    })
  }

  private checkUnknownRoots(touched: Map<AnyType, Touched>, issues: Issues, fixes: Fixes): void {
    const unknown = new Set<AnyType>()
    const allowed = new Set<string>([...RECORD_ROOTS, ...this.texts.rootNames()])
    for (const root of touched.keys()) {
      const name = rootName(root)
      if (name === null || !allowed.has(name)) unknown.add(root)
    }
    if (unknown.size === 0) return
    issues.push({ path: '(document)', message: 'only fields, notes, items, authority and text fields may be written', reason: 'invalid' })
    fixes.push(() => {
      for (const root of unknown) {
        deleteListPart(root)
        deleteMapPart(root)
      }
    })
  }
}

/** The keys of a map root a transaction changed, directly or inside the entry holding a nested change. */
function changedKeys(touched: Touched | undefined): Set<string> {
  const changed = new Set<string>()
  if (!touched) return changed
  for (const key of touched.keys) if (key !== null) changed.add(key)
  for (const top of touched.tops) if (top.parentSub !== null) changed.add(top.parentSub)
  return changed
}

const NOTES_CONTENT = 'notes hold text and formatting only'

/** Why a struct of the notes that is not text may not be there, or null for an accepted format mark. */
function formatIssue(item: Y.Item, isUser?: (userId: string) => boolean): string | null {
  if (!(item.content instanceof Y.ContentFormat)) return NOTES_CONTENT
  return noteFormatIssue(item.content.key, item.content.value, isUser)
}

/** Why a line item is not valid, or null: it must hold plain values only, and pass the item schema. */
function itemProblem(item: Y.Map<unknown>): string | null {
  for (const key of item.keys()) if (mapEntryOf(item, key).kind !== 'plain') return `${key} ${NOT_PLAIN}`
  if (hasLiveList(item)) return 'a line item holds named values only'
  const result = itemSchema.safeParse(readPlainMap(item))
  return result.success ? null : (result.error.issues[0]?.message ?? 'invalid item')
}

/** `values[key]` when `values` has it as its own (a key named "constructor" is not Object's), else undefined. */
function ownValue(values: FieldValues, key: string): unknown {
  return Object.hasOwn(values, key) ? values[key] : undefined
}

function restoreKey(map: Y.Map<unknown>, key: string, value: unknown): void {
  if (value === undefined) map.delete(key)
  else map.set(key, value)
}

/** Makes `map` hold exactly the plain values `last`, and nothing in its list part. */
function restoreMap(map: Y.Map<unknown>, last: FieldValues): void {
  for (const key of [...map.keys()]) if (!Object.hasOwn(last, key)) map.delete(key)
  for (const [key, value] of Object.entries(last)) {
    const entry = mapEntryOf(map, key)
    if (entry.kind !== 'plain' || JSON.stringify(entry.value) !== JSON.stringify(value)) map.set(key, value)
  }
  deleteListPart(map)
}
