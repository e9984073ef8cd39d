/**
 * Calendar endpoints:
 *
 * - `GET /api/calendar/free?attendees=a,b&room=r&from=&to=&duration=&limit=&exclude=` →
 *   `{slots: [{start, end}]}`: the free intervals, earliest first, in which every listed
 *   attendee and the room are free together and that are at least `duration` minutes
 *   long. `from`/`to` are ISO 8601 instants with a zone (default: now and 7 days later);
 *   `duration` is whole minutes (default 30); `limit` caps the answer (default 20).
 *   Only confirmed reservations make anyone busy; `exclude=<eventId>` ignores that
 *   event's own slot (when looking for where to move it).
 * - `POST /api/calendar/events/:id/retry` → `{reservation}`: decides an event's current
 *   request again (what to do once a conflicting slot is free).
 * - `GET /api/calendar/rooms` → `{rooms}`: the rooms events are booked in, as the server is
 *   configured (`AccordOptions.rooms`, `ACCORD_ROOMS`); every screen offers this one list.
 */
import { Router, type Request } from 'express'
import { z } from 'zod'
import { type FieldIssue, instant } from '../../shared/collections.js'
import type { ReservationAuthority } from '../authority/ReservationAuthority.js'
import type { ReservationLedger } from '../authority/ReservationLedger.js'
import { freeSlots } from '../authority/freeSlots.js'
import { attendeeResource, isoOf, roomResource } from '../authority/slotRequest.js'
import { principalOf, requireWriter } from './authenticate.js'
import { HttpError } from './errors.js'

/** @default 30 minutes */
export const DEFAULT_DURATION_MIN = 30
export const MAX_DURATION_MIN = 7 * 24 * 60
/** @default 7 days after `from` */
export const DEFAULT_WINDOW_MS = 7 * 24 * 3600_000
export const MAX_WINDOW_MS = 366 * 24 * 3600_000
export const DEFAULT_SLOTS = 20
export const MAX_SLOTS = 200
export const MAX_ATTENDEES = 200
/** The rooms offered when the server is given none. */
export const DEFAULT_ROOMS: readonly string[] = ['Atlas', 'Borealis', 'Cosmos', 'Delta']

const list = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  )
  .pipe(z.array(z.string().max(200)).max(MAX_ATTENDEES))
const minutes = z.coerce.number().int('must be a whole number of minutes').min(1).max(MAX_DURATION_MIN)

const freeQuery = z.object({
  attendees: list.optional(),
  room: z.string().max(2000).optional(),
  from: instant.optional(),
  to: instant.optional(),
  duration: minutes.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_SLOTS).optional(),
  exclude: z.string().max(200).optional(),
})

export interface CalendarRoutesOptions {
  ledger: ReservationLedger
  reservations: ReservationAuthority
  /** @default DEFAULT_ROOMS */
  rooms?: readonly string[]
}

export function calendarRoutes({ ledger, reservations, rooms = DEFAULT_ROOMS }: CalendarRoutesOptions): Router {
  const router = Router()

  router.get('/rooms', (req, res) => {
    principalOf(req)
    res.json({ rooms })
  })

  router.get('/free', async (req, res) => {
    const { workspace } = principalOf(req)
    const query = parseFreeQuery(req)
    const busy = await ledger.busy(workspace, query.resources, query.window, query.exclude)
    const slots = freeSlots(busy, query.window, query.durationMs, query.limit)
    res.json({ slots: slots.map((slot) => ({ start: isoOf(slot.start), end: isoOf(slot.end) })) })
  })

  router.post('/events/:id/retry', async (req, res) => {
    const { workspace } = requireWriter(req)
    const reservation = await reservations.retry(workspace, req.params.id as string)
    if (reservation === undefined) throw new HttpError(404, 'not-found', `no events record ${String(req.params.id)}`)
    res.json({ reservation })
  })

  return router
}

function parseFreeQuery(req: Request) {
  const parsed = freeQuery.safeParse(req.query)
  if (!parsed.success) {
    const issues: FieldIssue[] = parsed.error.issues.map((issue) => ({
      path: issue.path.join('.') || String((issue as { keys?: string[] }).keys?.[0] ?? '(query)'),
      message: issue.message,
    }))
    throw new HttpError(400, 'invalid', 'the query is not valid', { issues })
  }
  const q = parsed.data
  const resources = (q.attendees ?? []).map(attendeeResource)
  if (q.room !== undefined && q.room.trim() !== '') resources.push(roomResource(q.room))
  const issues: FieldIssue[] = []
  if (resources.length === 0) issues.push({ path: 'attendees', message: 'give at least one attendee or a room' })
  const from = q.from === undefined ? Date.now() : Date.parse(q.from)
  const to = q.to === undefined ? from + DEFAULT_WINDOW_MS : Date.parse(q.to)
  if (to <= from) issues.push({ path: 'to', message: 'to must be after from' })
  else if (to - from > MAX_WINDOW_MS) issues.push({ path: 'to', message: 'at most 366 days after from' })
  if (issues.length > 0) throw new HttpError(400, 'invalid', 'the query is not valid', { issues })
  return {
    resources,
    window: { start: from, end: to },
    durationMs: (q.duration ?? DEFAULT_DURATION_MIN) * 60_000,
    limit: q.limit ?? DEFAULT_SLOTS,
    exclude: q.exclude,
  }
}
