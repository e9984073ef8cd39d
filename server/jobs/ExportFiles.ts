import { access, rm } from 'node:fs/promises'
import { resolve } from 'node:path'

/** A kept export file: a path on this machine, or its bytes. */
export type KeptFile = { path: string } | { bytes: Buffer }

/**
 * Where finished export files are kept until their owner downloads them. On one machine the
 * export directory does; in a cluster the database does, so that whichever member a download
 * reaches can serve a file another member wrote.
 */
export interface ExportFiles {
  /** Takes the file just written at `path` into keeping; returns the name the job's result keeps. */
  keep(jobId: string, workspace: string, path: string): Promise<string>
  /** The file a job's result names, or null when it is gone. */
  read(ref: string): Promise<KeptFile | null>
  remove(ref: string): Promise<void>
}

/** Files stay where the export wrote them. */
export class DiskExportFiles implements ExportFiles {
  async keep(_jobId: string, _workspace: string, path: string): Promise<string> {
    return path
  }

  async read(ref: string): Promise<KeptFile | null> {
    const path = resolve(ref)
    return access(path).then(
      () => ({ path }),
      () => null,
    )
  }

  async remove(ref: string): Promise<void> {
    await rm(ref, { force: true })
  }
}
