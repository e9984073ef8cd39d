/** `If-Match` named an older version of the record: the HTTP layer answers 412 with the record as it is now. */
import { RecordError } from './RecordError.js'
import type { CurrentRecord } from './RecordReads.js'

export class StaleRecordError extends RecordError {
  /** `current`: the record and its ETag, which a retry names in its `If-Match` (no other round trip needed). */
  constructor(readonly current: CurrentRecord) {
    super('precondition-failed', 'the record changed since that version')
  }
}
