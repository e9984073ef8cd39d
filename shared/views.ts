/**
 * A saved list view: a person's name for a collection's columns, sort and filters
 * (`PUT /api/views/:id`). The server stores what this schema accepts and nothing else; the
 * client decides what a column key means (client/src/listColumns.ts). Pure.
 */
import { z } from 'zod'
import { COLLECTIONS } from './collections.js'

/** Most saved views one person keeps. */
export const MAX_VIEWS_PER_USER = 100
/** Longest view name, in UTF-16 code units. */
export const MAX_VIEW_NAME = 80

/**
 * A string of a view: no NUL (U+0000) and no lone surrogate. PostgreSQL's jsonb can hold
 * neither (the save failed there with a 500 while SQLite kept it), so both are refused alike.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const viewText = (schema: z.ZodString) =>
  schema
    .regex(/^[^\0]*$/, 'must not contain NUL characters (U+0000)')
    .refine((text) => !LONE_SURROGATE.test(text), 'must be well-formed text (no lone surrogate)')
const key = viewText(z.string().min(1).max(64))
const day = z.union([z.literal(''), z.iso.date()])

/** One filter of a list, on one column: one of some values, a number range, a date range. */
export const viewFilterSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('in'), column: key, values: z.array(viewText(z.string().max(200))).max(50) }),
  z.strictObject({ kind: z.literal('range'), column: key, min: z.number().finite().nullable(), max: z.number().finite().nullable() }),
  z.strictObject({ kind: z.literal('dates'), column: key, from: day, to: day }),
])
export type ViewFilter = z.infer<typeof viewFilterSchema>

export const viewSortSchema = z.strictObject({ column: key, direction: z.enum(['asc', 'desc']) })
export type ViewSort = z.infer<typeof viewSortSchema>

/** What a view holds besides its id: the body of `PUT /api/views/:id`. */
export const viewBodySchema = z.strictObject({
  collection: z.enum(COLLECTIONS),
  name: viewText(z.string().trim().min(1, 'a view needs a name').max(MAX_VIEW_NAME)),
  columns: z.array(key).max(40),
  sort: viewSortSchema.nullable(),
  filters: z.array(viewFilterSchema).max(40),
})
export type ViewBody = z.infer<typeof viewBodySchema>

/** A view's id: chosen by the client (a UUID, say), unique per person. */
export const viewIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a view id is 1 to 64 letters, digits, - or _')

/** A saved view as the API returns it. */
export interface SavedView extends ViewBody {
  id: string
  /** ISO 8601, when it was last saved. */
  updatedAt: string
}
