/**
 * What is wrong with a value typed into a record field, in words for the person typing
 * ("Amount can't be negative"), not the schema's ("Too small: expected number to be >=0").
 * The shared schema still decides; this only words its verdict. Pure.
 */
import { type Collection, checkField, REQUIRED_FIELDS } from '../../shared/collections.js'
import { fieldKind, fieldLabel } from './fieldKinds.js'

/** Why `value` may not be written to `field`, or null. `undefined` is an emptied input: clearing an optional field is allowed. */
export function fieldIssue(collection: Collection, field: string, value: unknown): string | null {
  const label = fieldLabel(field)
  if (value === undefined) return REQUIRED_FIELDS[collection].includes(field) ? `${label} is required` : null
  const problem = checkField(collection, field, value)
  if (!problem) return null
  switch (fieldKind(field)) {
    case 'money':
      return typeof value === 'number' && Number.isFinite(value) && value < 0 ? `${label} can't be negative` : `${label} must be a number`
    case 'instant':
      return `${label} needs a date and a time`
    case 'date':
      return `${label} must be a date`
    case 'email':
      return `${label} must be an e-mail address such as name@example.com`
    case 'currency':
      return `${label} must be an ISO 4217 currency code such as EUR`
    case 'percent':
      return `${label} must be a number from 0 to 100`
    default:
      return `${label}: ${problem.message}`
  }
}

/** The note left under a field whose invalid draft was abandoned: the value stayed as it was. */
export function notSavedText(issue: string): string {
  return `Not saved — ${issue}. The previous value was kept.`
}
