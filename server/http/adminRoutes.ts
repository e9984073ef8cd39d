/**
 * `/api/admin/*`, for a workspace's owners and admins only (anyone else: 403): the console's
 * figures. The role is read with the session on every request, so a demoted admin loses
 * access at their next request.
 */
import { type NextFunction, type Request, type Response, Router } from 'express'
import type { Overview } from '../metrics/Overview.js'
import { principalOf } from './authenticate.js'
import { HttpError } from './errors.js'

export interface AdminRoutesOptions {
  overview: Overview
}

export function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  const { role } = principalOf(req)
  next(
    role === 'owner' || role === 'admin' ? undefined : new HttpError(403, 'forbidden', 'only owners and admins may use the admin console'),
  )
}

export function adminRoutes({ overview }: AdminRoutesOptions): Router {
  const router = Router()
  router.use(requireAdmin)
  router.get('/overview', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store')
    res.json(await overview.current())
  })
  return router
}
