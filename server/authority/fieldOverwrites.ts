/**
 * Overwrites of record fields: two people set the same field concurrently, neither having seen
 * the other's value, and Yjs kept one of them. Accord does not change the merge; it tells both
 * people (`overwritten` to the one whose value lost, `overwrote` to the other) and keeps the
 * lost value in the history.
 *
 * How it is seen, in Yjs terms: the sets of one key of the `fields` map form a list of items;
 * the last one is the value. A client's new item names as its `origin` the item that was the
 * value when the client set it (what it had seen). When a client's update arrives, its new
 * items for a key are compared with the item that was the value before the update (if the new
 * item won) or with the item that stays the value (if it lost): if that is not the item the
 * client's set started from, the two sets were concurrent. Values are read as the transaction
 * ends, before Yjs garbage-collects the items it deleted.
 *
 * Only clients' updates are looked at: the server's own writes (REST) always follow the current
 * value. A client's offline set arriving after a REST write is concurrent with it, and the REST
 * write's author is the other party (the server writes for each user with a client id of theirs).
 */
import * as Y from 'yjs'
import { FIELDS, fieldsOf } from '../../shared/docLayout.js'
import type { OverwrittenPart } from '../store/DocStore.js'
import type { GuardContext, GuardIssue, GuardResult, UserNotice } from '../sync/DocPolicy.js'
import type { AnyType } from '../sync/typeTree.js'
import { isOrigin } from '../sync/types.js'
import type { TextOverwrite } from './textGate.js'

/** One field set concurrently by two people: whose value was kept and whose lost. */
export interface FieldOverwrite {
  key: string
  kept: { userId: string; value: unknown }
  lost: { userId: string; value: unknown }
}

/**
 * Watches one loaded record document: finds the overwrites of each client transaction as it
 * ends, and turns those of a checked transaction into notices and history entries.
 */
export class FieldOverwrites {
  private found: { tr: Y.Transaction; overwrites: FieldOverwrite[] } | null = null

  constructor(
    private readonly doc: Y.Doc,
    private readonly context: GuardContext,
    private readonly userName: (userId: string) => string,
  ) {
    doc.on('afterTransaction', (tr: Y.Transaction) => this.handleTransaction(tr))
  }

  private handleTransaction(tr: Y.Transaction): void {
    const origin = tr.origin
    if (!isOrigin(origin) || origin.kind !== 'peer') return
    this.found = null
    const overwrites = findOverwrites(fieldsOf(this.doc), tr, origin.principal.userId, this.context)
    if (overwrites.length > 0) this.found = { tr, overwrites }
  }

  /**
   * Adds the overwrites of a checked transaction to its result: a notice for each side, and the
   * lost value for the history. A field the check reverts overwrote nothing.
   */
  addTo(
    tr: Y.Transaction,
    result: Pick<GuardResult, 'issues' | 'revert'> & { textOverwrites?: TextOverwrite[] },
    now = Date.now(),
  ): GuardResult {
    const found = this.found?.tr === tr ? this.found.overwrites : []
    this.found = null
    const reverted = new Set(result.issues.map((issue: GuardIssue) => issue.path.split('.')[0]))
    const overwrites = [...found.filter((o) => !reverted.has(o.key)), ...this.plainOverText(tr, result.textOverwrites ?? [])]
    if (overwrites.length === 0) return result
    const at = new Date(now).toISOString()
    const notices: UserNotice[] = []
    const overwritten: OverwrittenPart[] = []
    for (const { key, kept, lost } of overwrites) {
      const path = `${FIELDS}.${key}`
      notices.push(
        {
          userId: lost.userId,
          notice: { type: 'overwritten', path, yours: lost.value, kept: kept.value, by: this.user(kept.userId), at },
        },
        {
          userId: kept.userId,
          notice: { type: 'overwrote', path, yours: kept.value, replaced: lost.value, by: this.user(lost.userId), at },
        },
      )
      overwritten.push({ part: key, value: lost.value, author: lost.userId, keptBy: kept.userId })
    }
    return { ...result, notices, overwritten }
  }

  /**
   * A stock client set a text field to a plain string, replacing a text others wrote: the
   * whole text is overwritten, and each of its writers lost it (the gate moves the string into
   * the text root).
   */
  private plainOverText(tr: Y.Transaction, texts: readonly TextOverwrite[]): FieldOverwrite[] {
    const origin = tr.origin
    if (!isOrigin(origin) || origin.kind !== 'peer') return []
    const sender = origin.principal.userId
    const found: FieldOverwrite[] = []
    for (const text of texts) {
      const writers = new Set(text.clients.map((client) => this.context.authorOfClient(client)))
      for (const writer of writers) {
        if (writer === null || writer === sender) continue
        found.push({ key: text.field, kept: { userId: sender, value: text.value }, lost: { userId: writer, value: text.replaced } })
      }
    }
    return found
  }

  private user(id: string): { id: string; name: string } {
    return { id, name: this.userName(id) }
  }
}

/**
 * The parts a transaction changed, without the fields it only set in vain: every new item for
 * the key lost to a concurrent one, so the value is the one it was.
 */
export function withoutLostSets(doc: Y.Doc, tr: Y.Transaction, parts: string[]): string[] {
  const fields = fieldsOf(doc)
  const keys = tr.changed.get(fields as AnyType)
  if (!keys) return parts
  return parts.filter((part) => {
    if (!keys.has(part)) return true
    const visible = fields._map.get(part)
    return visible === undefined || visible.deleted || isNewIn(tr, visible) || visible.content instanceof Y.ContentType
  })
}

/** The overwrites in a client's transaction (called as it ends: the items it deleted still hold their values). */
export function findOverwrites(fields: Y.Map<unknown>, tr: Y.Transaction, sender: string, context: GuardContext): FieldOverwrite[] {
  const keys = tr.changed.get(fields as AnyType)
  if (!keys) return []
  const found: FieldOverwrite[] = []
  for (const [key, items] of newItemsByKey(fields, tr, keys)) {
    const visible = fields._map.get(key)
    if (!visible) continue
    for (const tip of lastSets(items)) {
      const seen = originOfChain(tip, tr)
      let kept: { userId: string | null; value: unknown }
      let lost: { userId: string | null; value: unknown }
      if (tip === visible && !tip.deleted) {
        // Won: against the value before the update (the last item not new), if the sender had not seen it.
        let before = tip.left
        while (before !== null && isNewIn(tr, before)) before = before.left
        if (before === null || holds(before, seen)) continue
        if (before.deleted && !Y.isDeleted(tr.deleteSet, before.id)) continue // the field had been removed: no value lost
        kept = { userId: sender, value: itemValue(tip) }
        lost = { userId: context.authorOfClient(before.id.client), value: itemValue(before) }
      } else if (!isNewIn(tr, visible) && !visible.deleted && !holds(visible, seen)) {
        // Lost to the value that stays.
        kept = { userId: context.authorOfClient(visible.id.client), value: itemValue(visible) }
        lost = { userId: sender, value: itemValue(tip) }
      } else continue
      // One person on two tabs, or a value whose author is not known: nobody to tell.
      if (kept.userId === null || lost.userId === null || kept.userId === lost.userId) continue
      found.push({ key, kept: { userId: kept.userId, value: kept.value }, lost: { userId: lost.userId, value: lost.value } })
    }
  }
  return found
}

/** The items the transaction added under each changed key of `fields`. */
function newItemsByKey(fields: Y.Map<unknown>, tr: Y.Transaction, keys: Set<string | null>): Map<string, Y.Item[]> {
  const byKey = new Map<string, Y.Item[]>()
  const structs = tr.doc.store.clients
  for (const [client, clock] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0
    if (clock <= before) continue
    const list = structs.get(client)
    if (!list) continue
    for (let i = Y.findIndexSS(list, before); i < list.length; i++) {
      const struct = list[i]!
      if (!(struct instanceof Y.Item) || struct.parent !== (fields as unknown) || struct.parentSub === null) continue
      if (!keys.has(struct.parentSub)) continue
      const items = byKey.get(struct.parentSub)
      if (items) items.push(struct)
      else byKey.set(struct.parentSub, [struct])
    }
  }
  return byKey
}

/** Of a key's new items, those no other new item was set after (one client setting a key twice sets it once). */
function lastSets(items: Y.Item[]): Y.Item[] {
  if (items.length === 1) return items
  const followed = new Set(items.map((item) => (item.origin === null ? '' : `${item.origin.client}:${item.origin.clock}`)))
  return items.filter((item) => !followed.has(`${item.id.client}:${item.id.clock + item.length - 1}`))
}

/** What the sender had as the value when it set `tip`: the origin of its chain of new sets of the key. */
function originOfChain(tip: Y.Item, tr: Y.Transaction): Y.ID | null {
  let origin = tip.origin
  while (origin !== null) {
    const item = Y.getItem(tr.doc.store, origin)
    if (!(item instanceof Y.Item) || !isNewIn(tr, item) || item.parentSub !== tip.parentSub) return origin
    origin = item.origin
  }
  return null
}

function isNewIn(tr: Y.Transaction, item: Y.Item): boolean {
  return item.id.clock >= (tr.beforeState.get(item.id.client) ?? 0)
}

function holds(item: Y.Item, id: Y.ID | null): boolean {
  return id !== null && id.client === item.id.client && id.clock >= item.id.clock && id.clock < item.id.clock + item.length
}

/** A map item's value, as plain JSON. */
function itemValue(item: Y.Item): unknown {
  const content = item.content.getContent()
  const value: unknown = content[content.length - 1]
  return value instanceof Y.AbstractType ? (value.toJSON() as unknown) : value
}
