/**
 * A field's value in words, as the record editor shows it (grouped numbers, dates as dates,
 * enum labels, people and records by name): for the conflict markers and the activity
 * timeline, which name values rather than edit them. Pure.
 */
import { type Collection, parseRecordRef } from '../../shared/collections.js'
import type { IndexEntry } from '../../shared/docLayout.js'
import { assertNever } from '../../shared/docNames.js'
import { enumLabel, fieldKind, formatDate, formatInstant, REF_TARGETS } from './fieldKinds.js'

/** What turning ids into names needs: the workspace's people and the records fields point at. */
export interface DisplayContext {
  users: readonly { id: string; name: string }[]
  refs: RefEntries
  /** BCP 47 locale of the numbers; the browser's when absent. */
  locale?: string
}

/** The index entries of the collections that references point at, those at hand. */
export type RefEntries = Partial<Record<Collection, readonly IndexEntry[]>>

/** The title of record `id` of `collection`, or the id when it is not at hand. */
export function refTitle(refs: RefEntries, collection: Collection, id: string): string {
  return refs[collection]?.find((e) => e.id === id)?.title ?? id
}

/** What an unset value reads as. */
export const EMPTY_VALUE = 'empty'

/** `value` of `field` as a person reads it. */
export function displayValue(field: string, value: unknown, context: DisplayContext): string {
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) return EMPTY_VALUE
  const userName = (id: unknown) => context.users.find((u) => u.id === id)?.name ?? String(id)
  const kind = fieldKind(field)
  switch (kind) {
    case 'money':
      return typeof value === 'number' ? new Intl.NumberFormat(context.locale, { maximumFractionDigits: 2 }).format(value) : String(value)
    case 'date':
      return formatDate(String(value))
    case 'instant':
      return formatInstant(String(value))
    case 'enum':
      return enumLabel(String(value))
    case 'user':
      return userName(value)
    case 'users':
      return (Array.isArray(value) ? value : [value]).map(userName).join(', ')
    case 'ref': {
      const target = REF_TARGETS[field]
      return target ? refTitle(context.refs, target, String(value)) : String(value)
    }
    case 'about': {
      const ref = parseRecordRef(value)
      return ref ? refTitle(context.refs, ref.collection, ref.id) : String(value)
    }
    case 'percent':
      return `${new Intl.NumberFormat(context.locale, { maximumFractionDigits: 2 }).format(Number(value))} %`
    case 'tags':
      return Array.isArray(value) ? value.join(', ') : String(value)
    case 'text':
    case 'email':
    case 'currency':
      return String(value)
    default:
      return assertNever(kind)
  }
}
