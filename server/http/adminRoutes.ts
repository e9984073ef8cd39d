/**
 * `/api/admin/*`, for a workspace's owners and admins only (anyone else: 403): the console's
 * figures, and the workspace's users and sessions. The role is read with the session on every
 * request, so a demoted admin loses access at their next request.
 */
import { type NextFunction, type Request, type Response, Router } from 'express'
import { z } from 'zod'
import type { AuthService } from '../auth/AuthService.js'
import type { Overview } from '../metrics/Overview.js'
import { principalOf } from './authenticate.js'
import { HttpError } from './errors.js'

export interface AdminRoutesOptions {
  overview: Overview
  auth: AuthService
}

const newUserBody = z.strictObject({
  email: z.string().max(320),
  name: z.string().min(1).max(200).optional(),
  role: z.string(),
  password: z.string().max(1000),
})

const roleBody = z.strictObject({ role: z.string() })

function parsed<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {})
  if (result.success) return result.data
  throw new HttpError(400, 'invalid', 'the request is not valid', {
    issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  })
}

export function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  const { role } = principalOf(req)
  next(
    role === 'owner' || role === 'admin' ? undefined : new HttpError(403, 'forbidden', 'only owners and admins may use the admin console'),
  )
}

export function adminRoutes({ overview, auth }: AdminRoutesOptions): Router {
  const router = Router()
  router.use(requireAdmin)
  router.get('/overview', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store')
    res.json(await overview.current())
  })
  router.get('/users', async (req, res) => {
    res.json({ items: await auth.adminListUsers(principalOf(req)) })
  })
  router.post('/users', async (req, res) => {
    res.status(201).json(await auth.adminAddUser(principalOf(req), parsed(newUserBody, req.body)))
  })
  router.patch('/users/:id', async (req, res) => {
    const { role } = parsed(roleBody, req.body)
    res.json(await auth.changeRole(principalOf(req), String(req.params.id), role))
  })
  router.post('/users/:id/deactivate', async (req, res) => {
    res.json(await auth.deactivateUser(principalOf(req), String(req.params.id)))
  })
  router.get('/users/:id/sessions', async (req, res) => {
    res.json({ items: await auth.sessionsOf(principalOf(req), String(req.params.id)) })
  })
  router.delete('/sessions/:id', async (req, res) => {
    await auth.adminRevokeSession(principalOf(req), String(req.params.id))
    res.status(204).end()
  })
  return router
}
