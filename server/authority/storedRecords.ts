/**
 * What the authorities share: the origin of their writes, and the stored records they
 * reconcile at start-up (read from the `records` projection by RecordReads.stored, deleted and
 * incomplete ones included: a decision an incomplete event got before such events were left
 * undecided is released there).
 */
import { serverOrigin } from '../sync/types.js'

export type { StoredRecord } from '../records/RecordReads.js'

/** The origin of the authorities' writes (booking decisions, invoice numbers). */
export const AUTHORITY_ORIGIN = serverOrigin('authority')
