/**
 * The Express template of the route that answered a request (`/api/records/:collection/:id`),
 * for the latency histogram's `route` label. A sub-router's `req.route.path` is relative to its
 * mount point and `req.baseUrl` is put back once the request leaves that router (an error
 * thrown there reaches the app's handler with the outer base), so the full template is taken
 * at the moment the router matches the route, when both are its own.
 */
import type { NextFunction, Request, Response } from 'express'
import { UNMATCHED_ROUTE } from '../metrics/Metrics.js'

const TEMPLATE = Symbol('route template')

type Tracked = Request & { [TEMPLATE]?: string }

/** Installed first: every route matched later records its template on the request. */
export function trackRouteTemplate(req: Request, _res: Response, next: NextFunction): void {
  let route: unknown
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value
      if (!value) return
      // A pattern route (the client's fallback) is labelled by its source: fixed, like a template.
      const path = typeof value.path === 'string' ? value.path : String(value.path)
      ;(req as Tracked)[TEMPLATE] = `${req.baseUrl}${path === '/' && req.baseUrl ? '' : path}`
    },
  })
  next()
}

/** The template of the last route matched, or `UNMATCHED_ROUTE`. */
export function routeTemplateOf(req: Request): string {
  return (req as Tracked)[TEMPLATE] ?? UNMATCHED_ROUTE
}
