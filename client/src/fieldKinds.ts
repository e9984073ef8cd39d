/**
 * How each field of the shared schemas is edited and shown. Validation itself is
 * `checkField` from shared/collections.ts — one source of truth with the server.
 */
import { z } from 'zod'
import { type Collection, FIELD_SCHEMAS, REFERENCES } from '../../shared/collections.js'

export type FieldKind =
  | 'text'
  | 'email'
  | 'enum'
  | 'money'
  | 'date'
  | 'instant'
  | 'tags'
  | 'users'
  | 'user'
  | 'ref'
  | 'about'
  | 'percent'
  | 'currency'

const KINDS: Record<string, FieldKind> = {
  email: 'email',
  status: 'enum',
  stage: 'enum',
  amount: 'money',
  currency: 'currency',
  closeDate: 'date',
  validUntil: 'date',
  dueDate: 'date',
  start: 'instant',
  end: 'instant',
  tags: 'tags',
  attendees: 'users',
  ownerId: 'user',
  assigneeId: 'user',
  customerId: 'ref',
  dealId: 'ref',
  leadId: 'ref',
  proposalId: 'ref',
  about: 'about',
  taxRate: 'percent',
}

/** The collection each reference field (kind `ref`) points at. */
export const REF_TARGETS: Readonly<Record<string, Collection>> = Object.fromEntries(
  Object.values(REFERENCES)
    .flatMap((fields) => Object.entries(fields))
    .filter((entry): entry is [string, Collection] => entry[1] !== 'users' && entry[1] !== 'any'),
)

/**
 * Whether a sales step sets `field` (a lead's customer and deal, what a customer or deal was
 * converted from, the proposal an invoice was made from): the record page shows it once set,
 * the create form never.
 */
export function isStepField(collection: Collection, field: string): boolean {
  if (field === 'leadId' || field === 'proposalId') return true
  return collection === 'leads' && (field === 'customerId' || field === 'dealId')
}

export function fieldKind(field: string): FieldKind {
  return KINDS[field] ?? 'text'
}

/** The allowed values of an enum field. */
export function enumValues(collection: Collection, field: string): readonly string[] {
  const schema = (FIELD_SCHEMAS[collection] as Record<string, z.ZodType>)[field]
  return schema instanceof z.ZodEnum ? (schema.options as string[]) : []
}

/** How an enum value reads in the editor: `negotiation` → `Negotiation`. */
export function enumLabel(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1)
}

const LABELS: Record<string, string> = {
  ownerId: 'Owner',
  customerId: 'Customer',
  dealId: 'Deal',
  leadId: 'Converted from lead',
  proposalId: 'Proposal',
  assigneeId: 'Assignee',
  about: 'About',
  taxRate: 'Tax rate (%)',
  closeDate: 'Close date',
  validUntil: 'Valid until',
  dueDate: 'Due date',
}

export function fieldLabel(field: string): string {
  return LABELS[field] ?? field.charAt(0).toUpperCase() + field.slice(1)
}

export const COLLECTION_LABELS: Record<Collection, { plural: string; singular: string }> = {
  customers: { plural: 'Customers', singular: 'Customer' },
  leads: { plural: 'Leads', singular: 'Lead' },
  deals: { plural: 'Deals', singular: 'Deal' },
  proposals: { plural: 'Proposals', singular: 'Proposal' },
  invoices: { plural: 'Invoices', singular: 'Invoice' },
  events: { plural: 'Events', singular: 'Event' },
  tasks: { plural: 'Tasks', singular: 'Task' },
}

/** Columns of each collection's list, after the title. */
export const LIST_COLUMNS: Record<Collection, string[]> = {
  customers: ['company', 'email', 'tags'],
  leads: ['company', 'status', 'source'],
  deals: ['stage', 'amount', 'closeDate'],
  proposals: ['status', 'validUntil'],
  invoices: ['number', 'status', 'dueDate'],
  events: ['start', 'room', 'reservation'],
  tasks: ['status', 'dueDate'],
}

export function formatMoney(amount: number, currency = 'EUR'): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 0 }).format(amount)
  } catch {
    return `${amount.toFixed(0)} ${currency}`
  }
}

/** An instant in words, on `timeZone`'s clock (the calendar's, see timeZone.ts) or this device's. */
export function formatInstant(value: string, timeZone?: string): string {
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return value
  return date.toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone })
}

export function formatDate(value: string): string {
  if (!value) return ''
  const date = new Date(`${value}T00:00:00`)
  return Number.isNaN(date.getTime()) ? value : date.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' })
}

export function timeAgo(iso: string, now = Date.now()): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000)
  if (!Number.isFinite(seconds)) return ''
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`
  return new Date(iso).toLocaleDateString()
}
