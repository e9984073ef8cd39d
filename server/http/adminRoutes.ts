/**
 * `/api/admin/*`, for a workspace's owners and admins only (anyone else: 403): the console's
 * figures, the workspace's users and sessions, and its job queue (retry, cancel, re-run). The role is read with the session on every
 * request, so a demoted admin loses access at their next request.
 */
import { type NextFunction, type Request, type Response, Router } from 'express'
import { z } from 'zod'
import type { AuthService } from '../auth/AuthService.js'
import type { JobService } from '../jobs/JobService.js'
import { JobError } from '../jobs/JobRunner.js'
import type { Overview } from '../metrics/Overview.js'
import { principalOf } from './authenticate.js'
import { HttpError } from './errors.js'

export interface AdminRoutesOptions {
  overview: Overview
  auth: AuthService
  jobs: JobService
}

const JOB_ACTIONS = ['retry', 'cancel', 'rerun'] as const

const newUserBody = z.strictObject({
  email: z.string().max(320),
  name: z.string().min(1).max(200).optional(),
  role: z.string(),
  password: z.string().max(1000),
})

const roleBody = z.strictObject({ role: z.string() })

const inviteBody = z.strictObject({ role: z.string(), email: z.string().max(320).optional() })

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

export function adminRoutes({ overview, auth, jobs }: AdminRoutesOptions): Router {
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
  router.post('/invites', async (req, res) => {
    res.status(201).json(await auth.createInvite(principalOf(req), parsed(inviteBody, req.body)))
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
  router.get('/jobs', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store')
    res.json({ items: await jobs.ofWorkspace(principalOf(req).workspace) })
  })
  router.post('/jobs/:id/:action', async (req, res) => {
    const action = JOB_ACTIONS.find((a) => a === req.params.action)
    if (!action) throw new HttpError(404, 'not-found', 'no such endpoint')
    const principal = principalOf(req)
    const by = (await auth.getUser(principal.userId))?.name ?? 'an admin'
    try {
      const job = await jobs.adminAction(principal.workspace, String(req.params.id), action, by)
      if (!job) throw new HttpError(404, 'not-found', 'no such job')
      res.status(action === 'rerun' ? 201 : 200).json(job)
    } catch (error) {
      if (error instanceof JobError) throw new HttpError(409, 'conflict', error.message)
      throw error
    }
  })
  return router
}
