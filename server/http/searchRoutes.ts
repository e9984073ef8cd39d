/**
 * `GET /api/search?q=&limit=` → `{items: [{collection, id, title, match: {field, snippet}}]}`:
 * the live, complete records of the caller's workspace that `q` matches (shared/search.ts),
 * at most `limit` per collection (default 5), collection by collection, those whose title
 * matches first. One request finds records of every collection: what the command palette asks
 * on each keystroke. Any signed-in user may search (viewers read every record).
 */
import { Router } from 'express'
import { z } from 'zod'
import { COLLECTIONS, type FieldIssue, recordTitle } from '../../shared/collections.js'
import { MAX_SEARCH_LENGTH, matchIn, type SearchHit } from '../../shared/search.js'
import type { RecordService } from '../records/RecordService.js'
import { principalOf } from './authenticate.js'
import { HttpError } from './errors.js'

/** Records per collection when `limit` is not given. @default 5 */
export const DEFAULT_SEARCH_LIMIT = 5
/** Most records per collection one search returns. */
export const MAX_SEARCH_LIMIT = 50

const searchQuery = z.object({
  q: z
    .string('give the text to search for as q')
    .trim()
    .min(1, 'give the text to search for as q')
    .max(MAX_SEARCH_LENGTH, `at most ${MAX_SEARCH_LENGTH} characters`),
  limit: z.coerce.number().int('must be a whole number').min(1).max(MAX_SEARCH_LIMIT).default(DEFAULT_SEARCH_LIMIT),
})

export function searchRoutes(records: RecordService): Router {
  const router = Router()

  router.get('/', async (req, res) => {
    const { workspace } = principalOf(req)
    const parsed = searchQuery.safeParse(req.query)
    if (!parsed.success) {
      const issues: FieldIssue[] = parsed.error.issues.map((issue) => ({ path: issue.path.join('.') || '(query)', message: issue.message }))
      throw new HttpError(400, 'invalid', 'the query is not valid', { issues })
    }
    const { q, limit } = parsed.data
    const found = await Promise.all(COLLECTIONS.map((collection) => records.search(workspace, collection, q, limit)))
    const items: SearchHit[] = []
    COLLECTIONS.forEach((collection, i) => {
      for (const record of found[i]!) {
        const match = matchIn(collection, record, q)
        // The database and matchIn say the same; a record they disagree on is left out rather than shown without a reason.
        if (match) items.push({ collection, id: record.id, title: recordTitle(collection, record.fields), match })
      }
    })
    res.json({ items })
  })

  return router
}
