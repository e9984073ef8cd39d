import { Router, type Request, type Response } from 'express'
import { type Collection, isCollection } from '../../shared/collections.js'
import { MAX_SEARCH_LENGTH } from '../../shared/search.js'
import type { CurrentRecord } from '../records/RecordReads.js'
import type { RecordService } from '../records/RecordService.js'
import { INVOICE_SOURCES, type InvoiceSource, type SalesWorkflow } from '../records/SalesWorkflow.js'
import { principalOf, requireWriter } from './authenticate.js'
import { HttpError } from './errors.js'

function collectionOf(req: Request): Collection {
  const { collection } = req.params
  if (!isCollection(collection)) throw new HttpError(404, 'not-found', `no collection "${String(collection)}"`)
  return collection
}

/**
 * The `q` of a list: absent, or one string of at most MAX_SEARCH_LENGTH characters, as
 * `GET /api/search` takes. A longer one is refused: LIKE's work grows with the pattern's
 * length times the text's, and one query of a few thousand characters over long notes held
 * the server (SQLite answers synchronously) for most of a minute.
 */
function searchText(q: unknown): string | undefined {
  if (q === undefined) return undefined
  if (typeof q !== 'string')
    throw new HttpError(400, 'invalid', 'give q once, as text', { issues: [{ path: 'q', message: 'give q once, as text' }] })
  if (q.length > MAX_SEARCH_LENGTH) {
    const message = `at most ${MAX_SEARCH_LENGTH} characters`
    throw new HttpError(400, 'invalid', `q is too long: ${message}`, { issues: [{ path: 'q', message }] })
  }
  return q
}

function bodyObject(req: Request): Record<string, unknown> {
  const body: unknown = req.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'invalid', 'the body must be a JSON object', { issues: [] })
  }
  return body as Record<string, unknown>
}

/** A record with its ETag, both from one read of its row: a client's next `If-Match` names exactly this state. */
function sendRecord(res: Response, { record, etag }: CurrentRecord, status = 200): void {
  res.status(status).setHeader('ETag', `"${etag}"`).json(record)
}

export function recordRoutes(records: RecordService, workflow: SalesWorkflow): Router {
  const router = Router()

  // The sales steps (SalesWorkflow): before the generic routes, which would take `leads` as any collection.
  router.post('/leads/:id/convert', async (req, res) => {
    const { workspace, userId } = requireWriter(req)
    res.status(201).json(await workflow.convertLead(workspace, req.params.id!, bodyObject(req), userId))
  })

  router.post('/:collection/:id/invoice', async (req, res) => {
    const source = collectionOf(req)
    if (!(INVOICE_SOURCES as readonly string[]).includes(source)) {
      throw new HttpError(404, 'not-found', `an invoice is made from a deal or a proposal, not from ${source}`)
    }
    const { workspace, userId } = requireWriter(req)
    const invoice = await workflow.invoiceFrom(workspace, source as InvoiceSource, req.params.id!, bodyObject(req), userId)
    sendRecord(res, await records.current(workspace, 'invoices', invoice.id), 201)
  })

  router.get('/:collection', async (req, res) => {
    const { workspace } = principalOf(req)
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit)
    if (limit !== undefined && !Number.isInteger(limit)) throw new HttpError(400, 'invalid', 'limit must be an integer', { issues: [] })
    const q = searchText(req.query.q)
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined
    const { deleted } = req.query
    if (deleted !== undefined && deleted !== 'true' && deleted !== 'false') {
      throw new HttpError(400, 'invalid', 'deleted must be true or false', {
        issues: [{ path: 'deleted', message: 'must be true or false' }],
      })
    }
    res.json(await records.list(workspace, collectionOf(req), { q, limit, cursor, deleted: deleted === 'true' }))
  })

  router.post('/:collection', async (req, res) => {
    const collection = collectionOf(req)
    const { workspace, userId } = requireWriter(req)
    const { id } = await records.create(workspace, collection, bodyObject(req), userId)
    sendRecord(res, await records.current(workspace, collection, id), 201)
  })

  router.get('/:collection/:id', async (req, res) => {
    const collection = collectionOf(req)
    const { workspace } = principalOf(req)
    sendRecord(res, await records.current(workspace, collection, req.params.id!))
  })

  router.get('/:collection/:id/history', async (req, res) => {
    const { workspace } = principalOf(req)
    res.json(await records.history(workspace, collectionOf(req), req.params.id!))
  })

  router.patch('/:collection/:id', async (req, res) => {
    const collection = collectionOf(req)
    const { workspace, userId } = requireWriter(req)
    const { id } = await records.patch(workspace, collection, req.params.id!, bodyObject(req), userId, req.header('if-match'))
    sendRecord(res, await records.current(workspace, collection, id))
  })

  router.delete('/:collection/:id', async (req, res) => {
    const collection = collectionOf(req)
    const { workspace, userId } = requireWriter(req)
    await records.remove(workspace, collection, req.params.id!, userId, req.header('if-match'))
    res.status(204).end()
  })

  router.post('/:collection/:id/restore', async (req, res) => {
    const collection = collectionOf(req)
    const { workspace, userId } = requireWriter(req)
    await records.restore(workspace, collection, req.params.id!, userId)
    res.status(204).end()
  })

  return router
}
