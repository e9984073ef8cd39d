/**
 * The CRM collections, their fields and validation rules.
 * One source of truth for the server's validation gate, the REST API, the client's
 * forms and the tests. Pure: no I/O.
 */
import { z } from 'zod'

export const COLLECTIONS = ['customers', 'leads', 'deals', 'proposals', 'invoices', 'events', 'tasks'] as const
export type Collection = (typeof COLLECTIONS)[number]

export function isCollection(value: unknown): value is Collection {
  return typeof value === 'string' && (COLLECTIONS as readonly string[]).includes(value)
}

export const LEAD_STATUSES = ['new', 'contacted', 'qualified', 'lost', 'converted'] as const
export const DEAL_STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'] as const
export const PROPOSAL_STATUSES = ['draft', 'sent', 'accepted', 'rejected'] as const
export const INVOICE_STATUSES = ['draft', 'sent', 'paid', 'void'] as const
export const EVENT_STATUSES = ['scheduled', 'cancelled'] as const
export const TASK_STATUSES = ['open', 'done'] as const
export const RESERVATION_STATUSES = ['pending', 'confirmed', 'conflict'] as const

/** Longest accepted string field value, in UTF-16 code units. */
export const MAX_FIELD_LENGTH = 2_000
/** Longest accepted notes text, in UTF-16 code units. */
export const MAX_NOTES_LENGTH = 200_000
/** Most line items on one proposal or invoice. */
export const MAX_ITEMS = 500

/**
 * A short string holds no NUL (U+0000): it means nothing in a name or a title, PostgreSQL's
 * text cannot store it, and exports would carry it into CSV files and spreadsheets. Refused
 * here, it is one clear error on both backends. (The notes may hold one: the document keeps
 * it, and what the stores derive from it shows U+FFFD instead.)
 */
const noNul = (schema: z.ZodString) => schema.regex(/^[^\0]*$/, 'must not contain NUL characters (U+0000)')
const text = noNul(z.string().max(MAX_FIELD_LENGTH))
const id = noNul(z.string().max(200))
/** An e-mail address, or the empty string for "none" (what a cleared input holds). */
const email = z.union([z.literal(''), z.email().max(320)])
/** A calendar date without time, `YYYY-MM-DD`, or empty. */
const date = z.union([z.literal(''), z.iso.date()])
/**
 * An instant: ISO 8601 with a `Z` or an explicit offset. A naive timestamp
 * ("2026-01-01T10:00") is ambiguous across time zones and is rejected.
 */
export const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 instant with a time zone, e.g. 2026-03-02T09:00:00Z' })
const ids = z.array(id).max(200)

let currencyCodes: ReadonlySet<string> | null = null
/**
 * Whether `code` is an ISO 4217 currency code, as the runtime's ICU knows them
 * (`Intl.supportedValuesOf('currency')`: current and historical codes, about 300).
 */
export function isCurrencyCode(code: string): boolean {
  currencyCodes ??= new Set(Intl.supportedValuesOf('currency'))
  return currencyCodes.has(code)
}
const currency = z.string().refine(isCurrencyCode, 'must be an ISO 4217 currency code such as EUR')
/** A reference to any record, `<collection>/<id>`, or empty. */
export const recordRef = z.union([
  z.literal(''),
  z.string().regex(new RegExp(`^(${COLLECTIONS.join('|')})/[A-Za-z0-9_-]{1,64}$`), 'must name a record as <collection>/<id>'),
])

/** The collection and id a `recordRef` value names, or null. */
export function parseRecordRef(value: unknown): { collection: Collection; id: string } | null {
  if (typeof value !== 'string' || recordRef.safeParse(value).success === false || value === '') return null
  const [collection, id] = value.split('/') as [Collection, string]
  return { collection, id }
}

/** Field schemas per collection. Every field is optional unless listed in REQUIRED. */
export const FIELD_SCHEMAS = {
  // `leadId`: the lead this customer (or deal) was converted from; a lead's `customerId` and `dealId` point the other way.
  customers: { name: text.min(1), email, phone: text, company: text, tags: z.array(text).max(100), ownerId: id, leadId: id },
  leads: {
    name: text.min(1),
    email,
    company: text,
    source: text,
    status: z.enum(LEAD_STATUSES),
    ownerId: id,
    customerId: id,
    dealId: id,
  },
  deals: {
    title: text.min(1),
    customerId: id,
    stage: z.enum(DEAL_STAGES),
    amount: z.number().finite().min(0),
    currency,
    closeDate: date,
    ownerId: id,
    leadId: id,
  },
  proposals: { title: text.min(1), dealId: id, status: z.enum(PROPOSAL_STATUSES), validUntil: date },
  invoices: {
    customerId: id,
    dealId: id,
    status: z.enum(INVOICE_STATUSES),
    dueDate: date,
    currency,
    /** Percent added to the items' total, 0–100. */
    taxRate: z.number().finite().min(0, 'must be at least 0').max(100, 'must be at most 100'),
    /** The proposal it was made from, if any. */
    proposalId: id,
  },
  events: {
    title: text.min(1),
    start: instant,
    end: instant,
    attendees: ids,
    room: text,
    customerId: id,
    status: z.enum(EVENT_STATUSES),
  },
  tasks: { title: text.min(1), dueDate: date, assigneeId: id, status: z.enum(TASK_STATUSES), about: recordRef },
} as const satisfies Record<Collection, Record<string, z.ZodType>>

export const REQUIRED_FIELDS: Record<Collection, readonly string[]> = {
  customers: ['name'],
  leads: ['name'],
  deals: ['title'],
  proposals: ['title'],
  invoices: [],
  events: ['title', 'start', 'end'],
  tasks: ['title'],
}

/** The required fields of the collection that `fields` lacks. */
export function missingRequired(collection: Collection, fields: FieldValues): string[] {
  return REQUIRED_FIELDS[collection].filter((name) => fields[name] === undefined)
}

/**
 * Whether `fields` hold every required field. A client may create a record field by field
 * over the socket; until the last required field arrives, the document keeps what it has
 * but is not a record: not served, listed, exported, numbered or booked.
 */
export function isComplete(collection: Collection, fields: FieldValues): boolean {
  return missingRequired(collection, fields).length === 0
}

/** Defaults a new record gets for fields the creator left out. */
export const FIELD_DEFAULTS: Record<Collection, Record<string, unknown>> = {
  customers: {},
  leads: { status: 'new' },
  deals: { stage: 'lead', amount: 0, currency: 'EUR' },
  proposals: { status: 'draft' },
  invoices: { status: 'draft' },
  events: { status: 'scheduled', attendees: [] },
  tasks: { status: 'open' },
}

/** Collections whose records carry line items. */
export const HAS_ITEMS: Record<Collection, boolean> = {
  customers: false,
  leads: false,
  deals: false,
  proposals: true,
  invoices: true,
  events: false,
  tasks: false,
}

/** The total of line items: the sum of quantity × unit price. */
export function itemsTotal(items: readonly { quantity: number; unitPrice: number }[]): number {
  return items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0)
}

export const itemSchema = z.strictObject({
  description: text,
  quantity: z.number().finite().gt(0),
  unitPrice: z.number().finite().min(0),
})
export type LineItem = z.infer<typeof itemSchema>

export const reservationSchema = z.strictObject({
  status: z.enum(RESERVATION_STATUSES),
  start: z.string(),
  end: z.string(),
  conflictsWith: z.array(z.string()),
})
export type Reservation = z.infer<typeof reservationSchema>

export type FieldValues = Record<string, unknown>

/** A rule failure, in the shape the REST API returns in `error.issues`. */
export interface FieldIssue {
  path: string
  message: string
}

export function fieldNames(collection: Collection): string[] {
  return Object.keys(FIELD_SCHEMAS[collection])
}

/** Validates one field value. Unknown fields are an issue too. */
export function checkField(collection: Collection, field: string, value: unknown): FieldIssue | null {
  const schemas = FIELD_SCHEMAS[collection] as Record<string, z.ZodType>
  // Own keys only: a field named "constructor" or "__proto__" is unknown, not Object's.
  const schema = Object.hasOwn(schemas, field) ? schemas[field] : undefined
  if (!schema) return { path: field, message: `unknown field "${field}" for ${collection}` }
  const result = schema.safeParse(value)
  return result.success ? null : { path: field, message: result.error.issues[0]?.message ?? 'invalid value' }
}

/** Rules that span fields. Returns the fields at fault (empty when valid). */
export function checkCrossField(collection: Collection, fields: FieldValues): FieldIssue[] {
  if (collection === 'events') {
    const { start, end } = fields
    if (typeof start === 'string' && typeof end === 'string' && Date.parse(start) >= Date.parse(end)) {
      return [
        { path: 'start', message: 'start must be before end' },
        { path: 'end', message: 'end must be after start' },
      ]
    }
  }
  return []
}

/**
 * Validates a full set of fields (a new record, or a record after a patch):
 * every field valid, required fields present, cross-field rules hold.
 */
export function checkRecord(collection: Collection, fields: FieldValues): FieldIssue[] {
  const issues: FieldIssue[] = []
  for (const [name, value] of Object.entries(fields)) {
    const issue = checkField(collection, name, value)
    if (issue) issues.push(issue)
  }
  for (const name of missingRequired(collection, fields)) issues.push({ path: name, message: `${name} is required` })
  if (issues.length === 0) issues.push(...checkCrossField(collection, fields))
  return issues
}

export function checkItems(items: unknown): FieldIssue[] {
  if (!Array.isArray(items)) return [{ path: 'items', message: 'items must be an array' }]
  if (items.length > MAX_ITEMS) return [{ path: 'items', message: `at most ${MAX_ITEMS} items` }]
  const issues: FieldIssue[] = []
  items.forEach((item, i) => {
    const result = itemSchema.safeParse(item)
    if (!result.success) {
      for (const issue of result.error.issues) issues.push({ path: `items.${i}.${issue.path.join('.')}`, message: issue.message })
    }
  })
  return issues
}

/** What line items add up to, with tax at `taxRate` percent (rounded to cents). */
export function itemTotals(items: readonly LineItem[], taxRate = 0): { subtotal: number; tax: number; total: number } {
  const cents = (n: number) => Math.round(n * 100) / 100
  const subtotal = cents(items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0))
  const tax = cents((subtotal * taxRate) / 100)
  return { subtotal, tax, total: cents(subtotal + tax) }
}

/** The field a record is called by, if its collection has one (an invoice is called by its number). */
export const TITLE_FIELDS: Record<Collection, string | null> = {
  customers: 'name',
  leads: 'name',
  deals: 'title',
  proposals: 'title',
  invoices: null,
  events: 'title',
  tasks: 'title',
}

/**
 * What a reference field points at: the workspace's members, records of a collection, or (a
 * task's `about`) a record of any collection, as `collection/id`.
 */
export type ReferenceTarget = 'users' | Collection | 'any'

/**
 * The fields of each collection that hold the ids of other records or of users, and what they
 * point at: the record page links them, exports show their names, and a search does not look
 * into them (ids are random letters and digits, so a short word would match a reference in
 * most records).
 */
export const REFERENCES: Record<Collection, Readonly<Record<string, ReferenceTarget>>> = {
  customers: { ownerId: 'users', leadId: 'leads' },
  leads: { ownerId: 'users', customerId: 'customers', dealId: 'deals' },
  deals: { customerId: 'customers', ownerId: 'users', leadId: 'leads' },
  proposals: { dealId: 'deals' },
  invoices: { customerId: 'customers', dealId: 'deals', proposalId: 'proposals' },
  events: { attendees: 'users', customerId: 'customers' },
  tasks: { assigneeId: 'users', about: 'any' },
}

/** Human label of a collection's record, used in lists and exports. */
export function recordTitle(collection: Collection, fields: FieldValues): string {
  const titleField = TITLE_FIELDS[collection]
  const value = titleField === null ? undefined : fields[titleField]
  if (typeof value === 'string' && value) return value
  if (collection === 'invoices') return 'Invoice'
  return '(untitled)'
}
