import { readFile, rm } from 'node:fs/promises'
import type { Pool } from '../pg/openPool.js'
import { DiskExportFiles, type ExportFiles, type KeptFile } from './ExportFiles.js'

/** What a job's result names a file kept in the database by. */
const PREFIX = 'database:'

/**
 * Export files kept in PostgreSQL (`export_files`), so that any member of a cluster serves a
 * download whichever member ran the export. The local copy is deleted once the row is in.
 * Results that name a path (files written before this store) are still read from disk.
 */
export class PgExportFiles implements ExportFiles {
  private readonly disk = new DiskExportFiles()

  constructor(private readonly pool: Pool) {}

  async keep(jobId: string, workspace: string, path: string): Promise<string> {
    const bytes = await readFile(path)
    await this.pool.query({
      text: `INSERT INTO export_files (job_id, workspace, bytes, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id) DO UPDATE SET bytes = EXCLUDED.bytes, created_at = EXCLUDED.created_at`,
      values: [jobId, workspace, bytes, Date.now()],
    })
    await rm(path, { force: true })
    return PREFIX + jobId
  }

  async read(ref: string): Promise<KeptFile | null> {
    if (!ref.startsWith(PREFIX)) return this.disk.read(ref)
    const { rows } = await this.pool.query<{ bytes: Buffer }>({
      text: 'SELECT bytes FROM export_files WHERE job_id = $1',
      values: [ref.slice(PREFIX.length)],
    })
    return rows[0] ? { bytes: rows[0].bytes } : null
  }

  async remove(ref: string): Promise<void> {
    if (!ref.startsWith(PREFIX)) return this.disk.remove(ref)
    await this.pool.query({ text: 'DELETE FROM export_files WHERE job_id = $1', values: [ref.slice(PREFIX.length)] })
  }
}
