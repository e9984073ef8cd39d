/**
 * What the file connectors share: reading a collection's live records page by page
 * (yielding between pages) and writing the result atomically.
 */
import { rename, rm } from 'node:fs/promises'
import type { Collection } from '../../../shared/collections.js'
import type { ApiRecord } from '../../records/RecordReads.js'
import type { RecordService } from '../../records/RecordService.js'
import type { JobContext } from '../JobRunner.js'

/** Records read and written per chunk of work (one chunk per event-loop turn across all jobs). */
export const EXPORT_PAGE = 200

/** Live records of a collection in id order, one page per event-loop turn. */
export async function* pagesOf(
  records: RecordService,
  workspace: string,
  collection: Collection,
  ctx: JobContext,
): AsyncGenerator<ApiRecord[]> {
  let cursor: string | undefined
  for (;;) {
    await ctx.checkpoint()
    const page = await records.list(workspace, collection, { limit: EXPORT_PAGE, cursor })
    if (page.items.length > 0) yield page.items
    if (!page.nextCursor) return
    cursor = page.nextCursor
  }
}

/** Writes through `write(tmp)` then renames, so a file is either whole or absent; re-running overwrites it. */
export async function writeAtomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${file}.partial`
  try {
    await write(tmp)
    await rename(tmp, file)
  } finally {
    await rm(tmp, { force: true })
  }
}

/** What a file export produced. */
export interface FileResult {
  file: string
  contentType: string
  downloadName: string
  counts: { exported: number; added: number; updated: number; deleted: number }
}
