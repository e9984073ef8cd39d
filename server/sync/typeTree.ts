/**
 * Where a change sits in a document's tree of shared types: its root, the entry directly
 * under that root, how deep it is, and what a transaction inserted. Pure reads of Yjs
 * structures, for the checks made after an update is applied.
 */
import * as Y from 'yjs'

// biome-ignore lint/suspicious/noExplicitAny: Yjs types are invariant in their event type
export type AnyType = Y.AbstractType<any>

/** Where a shared type sits: its root, and the item directly under the root that holds it (null for the root itself). */
export interface Place {
  root: AnyType
  top: Y.Item | null
}

export function placeOf(type: AnyType): Place {
  let current = type
  let top: Y.Item | null = null
  while (current._item !== null) {
    top = current._item
    current = current._item.parent as AnyType
  }
  return { root: current, top }
}

/** The root of an item: the root of its parent type, or null for an item whose parent was collected. */
export function placeOfItem(item: Y.Item): Place | null {
  if (!(item.parent instanceof Y.AbstractType)) return null
  const place = placeOf(item.parent as AnyType)
  return { root: place.root, top: place.top ?? item }
}

/** The name under which a root type is registered in its document, or null. */
export function rootName(root: AnyType): string | null {
  const doc = root.doc
  if (!doc) return null
  for (const [name, value] of doc.share) if (value === root) return name
  return null
}

/**
 * Every item a transaction integrated (from its before-state to its after-state), whatever
 * it was inserted into. Cheap: only the new structs are visited.
 */
export function* insertedItems(tr: Y.Transaction): Generator<Y.Item> {
  const store = tr.doc.store
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0
    if (after <= before) continue
    const structs = store.clients.get(client)
    if (!structs) continue
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const struct = structs[i]
      if (struct instanceof Y.Item) yield struct
    }
  }
}

/**
 * How deep the deepest shared type a transaction created sits (a root's entries are at 0, a
 * type held by a root at 1). Depths are remembered per type, so a long chain costs its length once.
 */
export function deepestNewType(tr: Y.Transaction): number {
  const depths = new Map<AnyType, number>()
  let deepest = 0
  for (const item of insertedItems(tr)) {
    if (item.deleted || !(item.content instanceof Y.ContentType)) continue
    deepest = Math.max(deepest, depthOf(item.content.type as AnyType, depths))
  }
  return deepest
}

function depthOf(type: AnyType, depths: Map<AnyType, number>): number {
  const chain: AnyType[] = []
  let current: AnyType | null = type
  let base = 0
  while (current !== null && current._item !== null) {
    const known = depths.get(current)
    if (known !== undefined) {
      base = known
      break
    }
    chain.push(current)
    const parent: unknown = current._item.parent
    current = parent instanceof Y.AbstractType ? (parent as AnyType) : null
  }
  for (let i = chain.length - 1; i >= 0; i--) depths.set(chain[i]!, ++base)
  return depths.get(type) ?? base
}
