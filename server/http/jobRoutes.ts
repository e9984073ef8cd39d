/**
 * `/api/exports` and `/api/imports`: queue a job (202 at once), read your own jobs,
 * download an export's file. Another user's job is answered 404, as if it did not exist.
 * `/api/jobs/status`: what your jobs are doing now.
 */
import { type NextFunction, type Request, type RequestHandler, type Response, Router } from 'express'
import { z } from 'zod'
import { COLLECTIONS } from '../../shared/collections.js'
import { DUPLICATE_MODES } from '../jobs/importCsv.js'
import { EXPORT_TARGETS, type JobKind } from '../jobs/JobQueue.js'
import { JobError } from '../jobs/JobRunner.js'
import { type JobService, SAVED_SHEETS, type SavedSheet } from '../jobs/JobService.js'
import { principalOf, requireWriter } from './authenticate.js'
import { HttpError } from './errors.js'

/** Largest CSV file an import accepts. */
export const MAX_IMPORT_BYTES = 20 * 1024 * 1024

const exportBody = z.strictObject({
  target: z.enum(EXPORT_TARGETS),
  collections: z.array(z.enum(COLLECTIONS)).min(1).max(COLLECTIONS.length).optional(),
  spreadsheetId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be the id from the spreadsheet URL')
    .optional(),
  sheet: z.enum(SAVED_SHEETS).optional(),
})

const importFields = z.object({
  collection: z.enum(COLLECTIONS),
  onDuplicate: z.enum(DUPLICATE_MODES).default('skip'),
  /** The field each column of the file goes to ("" ignores it), as a JSON array; the header row's names when absent. */
  columns: z
    .string()
    .transform((text, ctx) => {
      try {
        return z.array(z.string().max(100)).max(500).parse(JSON.parse(text))
      } catch {
        ctx.addIssue({ code: 'custom', message: 'a JSON array of field names, "" for a column to ignore' })
        return z.NEVER
      }
    })
    .optional(),
})

const spreadsheetBody = z.object({ spreadsheet: z.string().min(1).max(2000) })

/** `mine` for any writer, `workspace` for owners and admins. */
function sheetOf(req: Request): SavedSheet {
  const principal = requireWriter(req)
  const sheet = req.params.sheet
  if (sheet !== 'mine' && sheet !== 'workspace') throw new HttpError(404, 'not-found', `no saved spreadsheet "${String(sheet)}"`)
  if (sheet === 'workspace' && principal.role !== 'owner' && principal.role !== 'admin')
    throw new HttpError(403, 'forbidden', "only owners and admins set the workspace's spreadsheet")
  return sheet
}

/** A job error before anything is queued (a spreadsheet the server cannot open) as a 400 on `path`. */
async function refusedAs<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (!(error instanceof JobError)) throw error
    throw new HttpError(400, 'invalid', error.message, { issues: [{ path, message: error.message }] })
  }
}

/** The upload parser, loaded on the first import: a server that never imports does not hold multer. */
let upload: Promise<RequestHandler> | null = null

/** multer's errors in the contract's format. */
async function receiveFile(req: Request, res: Response, next: NextFunction): Promise<void> {
  upload ??= import('multer').then(({ default: multer }) =>
    multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_IMPORT_BYTES, files: 1, fields: 10 } }).single('file'),
  )
  const receive = await upload
  receive(req, res, (error: unknown) => {
    if (!error) return next()
    const code = (error as { code?: string }).code
    if (code === 'LIMIT_FILE_SIZE') return next(new HttpError(413, 'too-large', `the file is larger than ${MAX_IMPORT_BYTES} bytes`))
    next(new HttpError(400, 'invalid', `the upload could not be read: ${(error as Error).message}`, { issues: [] }))
  })
}

function invalid(issues: z.core.$ZodIssue[]): HttpError {
  return new HttpError(400, 'invalid', 'the request is not valid', {
    issues: issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  })
}

export function jobRoutes(jobs: JobService): Router {
  const router = Router()
  const owned = async (req: Request, kind: JobKind) => {
    const job = await jobs.find(principalOf(req), String(req.params.id), kind)
    if (!job) throw new HttpError(404, 'not-found', `no ${kind} job ${String(req.params.id)}`)
    return job
  }

  router.post('/exports', async (req, res) => {
    const body = exportBody.safeParse(req.body ?? {})
    if (!body.success) throw invalid(body.error.issues)
    if (body.data.target === 'sheets') {
      // Viewers may export files of what they can read; a Sheets sync writes into a spreadsheet others use.
      if (principalOf(req).role === 'viewer') throw new HttpError(403, 'forbidden', 'viewers can export files, not sync to Google Sheets')
      if (!jobs.sheetsConfigured)
        throw new HttpError(400, 'invalid', 'Google Sheets is not configured on this server', {
          issues: [{ path: 'target', message: 'not configured' }],
        })
    }
    res.status(202).json(await refusedAs('spreadsheetId', () => jobs.enqueueExport(principalOf(req), body.data)))
  })
  router.get('/exports', async (req, res) => {
    res.json({ items: await jobs.list(principalOf(req), 'export') })
  })
  router.get('/exports/:id', async (req, res) => {
    res.json(await jobs.json(await owned(req, 'export')))
  })
  router.get('/exports/:id/file', async (req, res, next) => {
    const job = await owned(req, 'export')
    const result = job.result as { file?: string; contentType?: string; downloadName?: string } | null
    if (job.status !== 'succeeded') throw new HttpError(409, 'not-ready', `the export is ${job.status}`)
    if (!result?.file) throw new HttpError(404, 'not-found', 'this export has no file (Sheets exports write to the spreadsheet)')
    const kept = await jobs.files.read(result.file)
    if (!kept) throw new HttpError(404, 'not-found', 'the export file is no longer available')
    const contentType = result.contentType ?? 'application/octet-stream'
    res.attachment(result.downloadName ?? 'export')
    if ('bytes' in kept) {
      res.type(contentType).send(kept.bytes)
      return
    }
    res.sendFile(kept.path, { headers: { 'Content-Type': contentType } }, (error) => {
      if (error && !res.headersSent) next(new HttpError(404, 'not-found', 'the export file is no longer available'))
    })
  })

  router.get('/sheets', async (req, res) => {
    res.json(await jobs.sheetsSettings(principalOf(req)))
  })
  router.post('/sheets/check', async (req, res) => {
    requireWriter(req)
    const pasted = spreadsheetBody.safeParse(req.body ?? {})
    if (!pasted.success) throw invalid(pasted.error.issues)
    res.json(await refusedAs('spreadsheet', () => jobs.checkSpreadsheet(pasted.data.spreadsheet)))
  })
  router.put('/sheets/:sheet', async (req, res) => {
    const sheet = sheetOf(req)
    const pasted = spreadsheetBody.safeParse(req.body ?? {})
    if (!pasted.success) throw invalid(pasted.error.issues)
    res.json(await refusedAs('spreadsheet', () => jobs.saveSheet(principalOf(req), sheet, pasted.data.spreadsheet)))
  })
  router.delete('/sheets/:sheet', async (req, res) => {
    await jobs.forgetSheet(principalOf(req), sheetOf(req))
    res.status(204).end()
  })

  router.get('/jobs/status', async (req, res) => {
    res.json(await jobs.status(principalOf(req)))
  })

  router.post('/imports', (req, _res, next) => {
    requireWriter(req)
    next()
  })
  router.post('/imports', receiveFile, async (req, res) => {
    const fields = importFields.safeParse(req.body ?? {})
    if (!fields.success) throw invalid(fields.error.issues)
    if (!req.file)
      throw new HttpError(400, 'invalid', 'attach the CSV as the multipart field "file"', {
        issues: [{ path: 'file', message: 'required' }],
      })
    const job = await jobs.enqueueImport(principalOf(req), { ...fields.data, fileName: req.file.originalname, csv: req.file.buffer })
    res.status(202).json(job)
  })
  router.get('/imports', async (req, res) => {
    res.json({ items: await jobs.list(principalOf(req), 'import') })
  })
  router.get('/imports/:id', async (req, res) => {
    res.json(await jobs.json(await owned(req, 'import')))
  })

  return router
}
