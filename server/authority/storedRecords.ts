/**
 * What the authorities share: the origin of their writes, and the stored records of one
 * collection, deleted and incomplete ones included, read from the `records` projection
 * (written in the same transaction as their updates) for their start-up reconciliation (a
 * decision an incomplete event got before such events were left undecided is released there).
 */
import type { Collection, FieldValues } from '../../shared/collections.js'
import type { Db } from '../store/openDatabase.js'
import { serverOrigin } from '../sync/types.js'

/** The origin of the authorities' writes (booking decisions, invoice numbers). */
export const AUTHORITY_ORIGIN = serverOrigin('authority')

/** A stored record as the projection holds it. */
export interface StoredRecord {
  workspace: string
  id: string
  fields: FieldValues
  authority: FieldValues
}

/** Every stored record of `collection` in every workspace, oldest change first. */
export function storedRecords(db: Db, collection: Collection): StoredRecord[] {
  const rows = db
    .prepare<[Collection], { workspace: string; id: string; fields: string; authority: string }>(
      'SELECT workspace, id, fields, authority FROM records WHERE collection = ? ORDER BY updated_at, id',
    )
    .all(collection)
  return rows.map((row) => ({
    workspace: row.workspace,
    id: row.id,
    fields: JSON.parse(row.fields) as FieldValues,
    authority: JSON.parse(row.authority) as FieldValues,
  }))
}
