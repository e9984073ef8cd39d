/**
 * Reads and edits of shared types that the record gate's checks share: what a transaction
 * changed under each root, whether a root holds content of the wrong kind (a map's list
 * part, a list's named entries, anything but text in a text), and how to take it out.
 */
import * as Y from 'yjs'
import { type AnyType, insertedItems, placeOf, placeOfItem } from '../sync/typeTree.js'

/** What a transaction changed under one root: keys of the root itself (null: its list part), and the entries holding nested changes. */
export interface Touched {
  keys: Set<string | null>
  tops: Set<Y.Item>
}

/** What a transaction changed, grouped by root. */
export function touchedRoots(tr: Y.Transaction): Map<AnyType, Touched> {
  const touched = new Map<AnyType, Touched>()
  for (const [type, keys] of tr.changed) {
    const { root, top } = placeOf(type as AnyType)
    let entry = touched.get(root)
    if (!entry) touched.set(root, (entry = { keys: new Set(), tops: new Set() }))
    if (top === null) for (const key of keys) entry.keys.add(key)
    else entry.tops.add(top)
  }
  return touched
}

/** Whether a change reached the list part of a root (for a map root: content it should never hold). */
export function hasListPart(touched: Touched): boolean {
  return touched.keys.has(null) || [...touched.tops].some((top) => top.parentSub === null)
}

/** Whether a change reached the named entries of a root (for a list root: content it should never hold). */
export function hasMapPart(touched: Touched): boolean {
  return [...touched.keys].some((key) => key !== null) || [...touched.tops].some((top) => top.parentSub !== null)
}

/**
 * The plain JSON value of something a map holds, or undefined: what it read as before it
 * was repaired. Converting a shared type recurses as deep as it is nested, which a stored
 * document may have made too deep for the stack.
 */
export function plainOf(value: unknown): unknown {
  try {
    const plain: unknown = value instanceof Y.AbstractType ? value.toJSON() : value
    return plain === undefined ? undefined : JSON.parse(JSON.stringify(plain))
  } catch {
    return undefined
  }
}

export function hasLiveMap(type: AnyType): boolean {
  for (const item of type._map.values()) if (!item.deleted) return true
  return false
}

export function hasLiveList(type: AnyType): boolean {
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) return true
  return false
}

/** Deletes a type's list content (whatever kind of type it was created as); call inside a transaction. */
export function deleteListPart(type: AnyType): void {
  const tr = type.doc?._transaction
  if (!tr) return
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) item.delete(tr)
}

/** Deletes a type's named entries; call inside a transaction. */
export function deleteMapPart(type: AnyType): void {
  const tr = type.doc?._transaction
  if (!tr) return
  for (const item of type._map.values()) if (!item.deleted) item.delete(tr)
}

/**
 * What a transaction put into a text root that is not text: embeds, embedded types, format
 * marks, named entries, or the entry holding a change made inside any of those.
 */
export function notTextItems(tr: Y.Transaction, text: AnyType, touched: Touched): Set<Y.Item> {
  const notText = new Set<Y.Item>()
  for (const item of insertedItems(tr)) {
    if (item.deleted) continue
    const place = placeOfItem(item)
    if (place?.root !== text || !place.top || place.top.deleted) continue
    if (place.top.parentSub !== null || !(place.top.content instanceof Y.ContentString)) notText.add(place.top)
  }
  for (const top of touched.tops) if (!top.deleted) notText.add(top)
  return notText
}
