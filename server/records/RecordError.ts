/** A record operation that cannot be done: the HTTP layer answers 400, 404, 409 or 412. */
import type { FieldIssue } from '../../shared/collections.js'

export class RecordError extends Error {
  constructor(
    readonly code: 'invalid' | 'not-found' | 'conflict' | 'precondition-failed',
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message)
  }
}
