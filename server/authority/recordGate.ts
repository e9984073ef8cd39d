/**
 * The validation gate of record documents (docs/architecture.md, "The write path").
 *
 * After a client's update is applied, every field it changed is checked against the
 * collection schema. Whatever is invalid is restored to its last valid value in a
 * compensating transaction, so the sender and every other client converge on a valid
 * state, while the valid parts of the same update survive.
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
import { AUTHORITY, ITEMS, RECORD_ROOTS, authorityOf, fieldsOf, itemsOf, notesOf } from '../../shared/docLayout.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event type
type AnyType = Y.AbstractType<any>

export type RejectReason = 'invalid' | 'authority'

export interface GateResult {
  /** What was wrong, for the sender. Empty when the transaction was valid. */
  issues: (FieldIssue & { reason: RejectReason })[]
  /** Applies the compensating changes; call inside a transaction. */
  revert: (() => void) | null
}

/**
 * Remembers a record document's last valid field values and checks transactions
 * against them. One per loaded record document.
 */
export class RecordGate {
  private lastFields: FieldValues
  private lastAuthority: FieldValues
  private readonly lastItems = new WeakMap<Y.Map<unknown>, FieldValues>()

  constructor(
    private readonly doc: Y.Doc,
    private readonly collection: Collection,
  ) {
    this.lastFields = fieldsOf(doc).toJSON()
    this.lastAuthority = authorityOf(doc).toJSON()
    this.acceptItems()
    // Instantiate the notes root now: if it were first typed by `checkNotes` during a check,
    // the generic root the incoming update created would no longer be in `doc.share` and
    // `checkUnknownRoots` would delete the first text a client typed into the notes.
    notesOf(doc)
  }

  /** Records the current state as valid (after server writes and accepted client writes). */
  accept(): void {
    this.lastFields = fieldsOf(this.doc).toJSON()
    this.lastAuthority = authorityOf(this.doc).toJSON()
    this.acceptItems()
  }

  /** Items written by the server (REST create/patch) are valid too: an invalid client edit restores them, not deletes them. */
  private acceptItems(): void {
    for (const item of itemsOf(this.doc)) if (item instanceof Y.Map) this.lastItems.set(item, item.toJSON())
  }

  /** Checks a transaction made by a client. */
  check(tr: Y.Transaction): GateResult {
    const issues: GateResult['issues'] = []
    const fixes: (() => void)[] = []
    const fields = fieldsOf(this.doc)
    const authority = authorityOf(this.doc)

    const changedFieldKeys = keysChanged(tr, fields)
    const current = fields.toJSON()
    const badFields = new Set<string>()
    for (const key of changedFieldKeys) {
      const value = current[key]
      if (value === undefined) {
        if (REQUIRED_FIELDS[this.collection].includes(key) && this.lastFields[key] !== undefined) {
          issues.push({ path: key, message: `${key} is required`, reason: 'invalid' })
          badFields.add(key)
        }
        continue
      }
      const issue = checkField(this.collection, key, value)
      if (issue) {
        issues.push({ ...issue, reason: 'invalid' })
        badFields.add(key)
      }
    }
    if (changedFieldKeys.size > 0) {
      const candidate = { ...current }
      for (const key of badFields) candidate[key] = this.lastFields[key]
      for (const issue of checkCrossField(this.collection, candidate)) {
        if (changedFieldKeys.has(issue.path) && !badFields.has(issue.path)) {
          issues.push({ ...issue, reason: 'invalid' })
          badFields.add(issue.path)
        }
      }
    }
    if (badFields.size > 0) {
      fixes.push(() => {
        for (const key of badFields) restoreKey(fields, key, this.lastFields[key])
      })
    }

    if (keysChanged(tr, authority).size > 0) {
      issues.push({ path: AUTHORITY, message: 'authority fields are written by the server only', reason: 'authority' })
      fixes.push(() => {
        for (const key of [...authority.keys()]) if (!(key in this.lastAuthority)) authority.delete(key)
        for (const [key, value] of Object.entries(this.lastAuthority)) {
          if (JSON.stringify(authority.get(key)) !== JSON.stringify(value)) authority.set(key, value)
        }
      })
    }

    this.checkItems(tr, issues, fixes)
    this.checkNotes(tr, issues, fixes)
    this.checkUnknownRoots(tr, issues, fixes)

    const revert = fixes.length > 0 ? () => fixes.forEach((fix) => fix()) : null
    if (!revert) this.accept()
    return { issues, revert }
  }

  private checkItems(tr: Y.Transaction, issues: GateResult['issues'], fixes: (() => void)[]): void {
    const items = itemsOf(this.doc)
    const touched = [...tr.changed.keys()].some((type) => rootName(type) === ITEMS)
    if (!touched) return
    const toDelete = new Set<AnyType>()
    const toRestore: [Y.Map<unknown>, FieldValues][] = []
    /** Valid items this transaction added: the ones to drop again past MAX_ITEMS. */
    const added = new Set<unknown>()
    let index = 0
    for (const item of items) {
      if (!(item instanceof Y.Map)) {
        toDelete.add(item as AnyType)
      } else {
        const result = itemSchema.safeParse(item.toJSON())
        if (result.success) {
          if (!this.lastItems.has(item)) added.add(item)
          this.lastItems.set(item, item.toJSON())
        } else {
          const last = this.lastItems.get(item)
          issues.push({ path: `items.${index}`, message: result.error.issues[0]?.message ?? 'invalid item', reason: 'invalid' })
          if (last) toRestore.push([item, last])
          else toDelete.add(item)
        }
      }
      index++
    }
    if (items.length - toDelete.size > MAX_ITEMS) issues.push({ path: ITEMS, message: `at most ${MAX_ITEMS} items`, reason: 'invalid' })
    if (toDelete.size === 0 && toRestore.length === 0 && items.length <= MAX_ITEMS) return
    fixes.push(() => {
      for (const [item, last] of toRestore) {
        for (const key of [...item.keys()]) if (!(key in last)) item.delete(key)
        for (const [key, value] of Object.entries(last)) if (item.get(key) !== value) item.set(key, value)
      }
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

  /** Notes past MAX_NOTES_LENGTH: what this transaction inserted into them is taken out again. */
  private checkNotes(tr: Y.Transaction, issues: GateResult['issues'], fixes: (() => void)[]): void {
    const notes = notesOf(this.doc)
    if (!tr.changed.has(notes as unknown as AnyType) || notes.length <= MAX_NOTES_LENGTH) return
    issues.push({ path: 'notes', message: `notes hold at most ${MAX_NOTES_LENGTH} characters`, reason: 'invalid' })
    fixes.push(() => {
      const revertTr = this.doc._transaction
      if (!revertTr) return
      for (let item = notes._start; item !== null; item = item.right) {
        if (!item.deleted && item.id.clock >= (tr.beforeState.get(item.id.client) ?? 0)) item.delete(revertTr)
      }
    })
  }

  private checkUnknownRoots(tr: Y.Transaction, issues: GateResult['issues'], fixes: (() => void)[]): void {
    const unknown = new Set<AnyType>()
    for (const type of tr.changed.keys()) {
      const root = rootOf(type)
      const name = rootName(root)
      if (name === null || !(RECORD_ROOTS as readonly string[]).includes(name)) unknown.add(root)
    }
    if (unknown.size === 0) return
    issues.push({ path: '(document)', message: 'only fields, notes, items and authority may be written', reason: 'invalid' })
    fixes.push(() => {
      for (const root of unknown) deleteContent(root)
    })
  }
}

function keysChanged(tr: Y.Transaction, map: Y.Map<unknown>): Set<string> {
  const keys = new Set<string>()
  for (const key of tr.changed.get(map as unknown as AnyType) ?? []) if (key !== null) keys.add(key)
  return keys
}

function restoreKey(map: Y.Map<unknown>, key: string, value: unknown): void {
  if (value === undefined) map.delete(key)
  else map.set(key, value)
}

function rootOf(type: AnyType): AnyType {
  let current = type
  while (current._item !== null) current = current._item.parent as AnyType
  return current
}

/** The name under which a root type is registered in its document, or null. */
function rootName(type: AnyType): string | null {
  const root = rootOf(type)
  const doc = root.doc
  if (!doc) return null
  for (const [name, value] of doc.share) if (value === root) return name
  return null
}

/** Deletes everything under a root type, whatever kind of type it was created as. */
function deleteContent(type: AnyType): void {
  const tr = type.doc?._transaction
  if (!tr) return
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) item.delete(tr)
  for (const item of type._map.values()) if (!item.deleted) item.delete(tr)
}

