/**
 * A record's projection: the `records` row written in the same transaction as the updates it
 * reflects (lists, search, exports and the REST API read it), and the values it was made of
 * (the index entry is built from them after the commit).
 */
import { hash } from 'node:crypto'
import * as Y from 'yjs'
import { type Collection, type FieldValues, HAS_ITEMS, isComplete, itemsTotal } from '../../shared/collections.js'
import { readRecord } from '../../shared/docLayout.js'
import { searchText } from '../../shared/search.js'
import type { Projected } from '../sync/CommitQueue.js'

export interface RecordProjection extends Projected {
  readonly fields: FieldValues
  readonly authority: FieldValues
  /** The line items' total, for collections that have items. */
  readonly total: number | undefined
  readonly deleted: boolean
  /** Every required field is present; an incomplete record is stored but not served, listed, indexed or exported. */
  readonly complete: boolean
  /** When the last of the projected updates was made (ms). */
  readonly updatedAt: number
  /** Who made the last of them that a person made, or null (the server's own). */
  readonly updatedBy: string | null
}

/**
 * The projection of a record's current state after `updates`; undefined for a document with
 * nothing in it yet. Its `version` column counts `updates` on top of the stored one.
 */
export function projectRecord(
  name: { workspace: string; collection: Collection; id: string },
  doc: Y.Doc,
  updates: readonly { author: string | null; at: number }[],
): RecordProjection | undefined {
  const state = readRecord(doc, name.collection)
  if (Object.keys(state.fields).length === 0 && Object.keys(state.authority).length === 0) return undefined
  const updatedAt = updates.at(-1)?.at ?? Date.now()
  const updatedBy =
    updates
      .map((u) => u.author)
      .filter((a): a is string => a !== null)
      .at(-1) ?? null
  const deleted = typeof state.authority.deleted === 'string'
  const complete = isComplete(name.collection, state.fields)
  return {
    fields: state.fields,
    authority: state.authority,
    total: HAS_ITEMS[name.collection] ? itemsTotal(state.items) : undefined,
    deleted,
    complete,
    updatedAt,
    updatedBy,
    row: {
      table: 'records',
      key: ['workspace', 'collection', 'id'],
      values: {
        workspace: name.workspace,
        collection: name.collection,
        id: name.id,
        fields: JSON.stringify(state.fields),
        notes: state.notes,
        search_text: searchText(name.collection, state.fields),
        items: JSON.stringify(state.items),
        authority: JSON.stringify(state.authority),
        deleted: deleted ? 1 : 0,
        complete: complete ? 1 : 0,
        etag: etagOf(doc),
        created_at: updatedAt,
        updated_at: updatedAt,
        updated_by: updatedBy,
        // Every committed update is one accepted change, the server's own included (a gate's
        // revert, a booking decision): the version moves whenever the ETag does.
        version: updates.length,
      },
      insertOnly: ['created_at'],
      keepIfNull: ['updated_by'],
      increment: ['version'],
      logColumn: 'log_seq',
    },
  }
}

/**
 * The record's version: a digest of what the document holds, its state vector (what was
 * inserted) and its delete set (what was deleted). A deletion inserts nothing, so the
 * state vector alone would keep the ETag of a record whose text was just cut. It is computed
 * before every commit of a record, so with the one-shot `hash` (a third of the cost of a
 * `createHash` object for the same digest).
 */
export function etagOf(doc: Y.Doc): string {
  return hash('sha1', Y.encodeSnapshot(Y.snapshot(doc)), 'base64url').slice(0, 16)
}
