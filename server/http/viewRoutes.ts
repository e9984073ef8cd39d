/**
 * `/api/views`: the signed-in person's saved list views. Anyone signed in keeps their own
 * (a viewer too: a view changes no record). Bodies are checked against `viewBodySchema`.
 */
import { Router } from 'express'
import { isCollection } from '../../shared/collections.js'
import { MAX_VIEWS_PER_USER, viewBodySchema, viewIdSchema } from '../../shared/views.js'
import type { ViewStore } from '../views/ViewStore.js'
import { principalOf } from './authenticate.js'
import { HttpError } from './errors.js'

function invalid(issues: { path: PropertyKey[]; message: string }[]): HttpError {
  return new HttpError(400, 'invalid', issues[0]?.message ?? 'invalid view', {
    issues: issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  })
}

export function viewRoutes(views: ViewStore): Router {
  const router = Router()

  router.get('/', async (req, res) => {
    const { workspace, userId } = principalOf(req)
    const { collection } = req.query
    if (collection !== undefined && !isCollection(collection))
      throw new HttpError(404, 'not-found', `no collection "${String(collection)}"`)
    const items = await views.list({ workspace, userId })
    res.json({ items: collection === undefined ? items : items.filter((v) => v.collection === collection) })
  })

  router.put('/:id', async (req, res) => {
    const { workspace, userId } = principalOf(req)
    const id = viewIdSchema.safeParse(req.params.id)
    if (!id.success) throw invalid(id.error.issues.map((i) => ({ ...i, path: ['id'] })))
    const body = viewBodySchema.safeParse(req.body)
    if (!body.success) throw invalid(body.error.issues)
    const owner = { workspace, userId }
    const existing = await views.list(owner)
    if (existing.length >= MAX_VIEWS_PER_USER && !existing.some((v) => v.id === id.data)) {
      throw new HttpError(409, 'too-many', `at most ${MAX_VIEWS_PER_USER} saved views per person: delete one first`)
    }
    res.json(await views.put(owner, id.data, body.data, Date.now()))
  })

  router.delete('/:id', async (req, res) => {
    const { workspace, userId } = principalOf(req)
    if (!(await views.remove({ workspace, userId }, req.params.id!)))
      throw new HttpError(404, 'not-found', `no saved view ${req.params.id}`)
    res.status(204).end()
  })

  return router
}
