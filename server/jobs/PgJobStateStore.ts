/**
 * Job state in PostgreSQL (tables `import_keys` and `sheet_state`, server/pg/migrations.ts),
 * shared by every process of an installation. Each method is one named statement.
 *
 * Claiming an import key is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`: a second
 * claim of a key that another transaction is inserting waits for it to commit, then updates
 * the committed row (READ COMMITTED takes the newest version) and returns its owner. Its
 * update leaves the owner as it is unless it is the `stale` one, but always happens, so the
 * statement always returns the owner it left. (`DO NOTHING` returns no row on a conflict,
 * and a second statement to read the winner could miss it.)
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ADVISORY_LOCK } from '../pg/advisoryLocks.js'
import type { Pool } from '../pg/openPool.js'
import type {
  ImportKeyOwner,
  ImportKeyRow,
  ImportKeyScope,
  JobStateStore,
  SheetStateColumns,
  SheetTab,
  SheetTabName,
  SheetTarget,
  SheetTargetOwner,
  SheetTargetRow,
} from './JobStateStore.js'
import { EXCLUSIVE_POLL_MS, ownerOf, ownersOf, sheetStateColumns, sheetTabOf, sheetTargetOf } from './JobStateStore.js'

const IS_STALE = 'import_keys.record_id = $6 AND import_keys.job_id = $7'

const SQL = {
  owners: 'SELECT key, record_id, job_id FROM import_keys WHERE workspace = $1 AND collection = $2 AND key = ANY($3::text[])',
  claim: `INSERT INTO import_keys (workspace, collection, key, record_id, job_id) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (workspace, collection, key) DO UPDATE SET
      record_id = CASE WHEN ${IS_STALE} THEN excluded.record_id ELSE import_keys.record_id END,
      job_id = CASE WHEN ${IS_STALE} THEN excluded.job_id ELSE import_keys.job_id END
    RETURNING record_id, job_id`,
  sheetTab: 'SELECT header, rows FROM sheet_state WHERE user_id = $1 AND spreadsheet_id = $2 AND tab = $3',
  saveSheetTab: `INSERT INTO sheet_state (user_id, spreadsheet_id, tab, header, rows, at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (user_id, spreadsheet_id, tab) DO UPDATE SET header = excluded.header, rows = excluded.rows, at = excluded.at`,
  sheetTarget: 'SELECT spreadsheet_id, title, saved_by, saved_at FROM sheet_targets WHERE workspace = $1 AND user_id = $2',
  saveSheetTarget: `INSERT INTO sheet_targets (workspace, user_id, spreadsheet_id, title, saved_by, saved_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (workspace, user_id) DO UPDATE SET spreadsheet_id = excluded.spreadsheet_id, title = excluded.title,
      saved_by = excluded.saved_by, saved_at = excluded.saved_at`,
  forgetSheetTarget: 'DELETE FROM sheet_targets WHERE workspace = $1 AND user_id = $2',
}

export class PgJobStateStore implements JobStateStore {
  constructor(private readonly pool: Pool) {}

  async importKeyOwners(scope: ImportKeyScope, keys: readonly string[]): Promise<Map<string, ImportKeyOwner>> {
    const { rows } = await this.pool.query<ImportKeyRow>({
      name: 'import-keys-owners',
      text: SQL.owners,
      values: [scope.workspace, scope.collection, keys],
    })
    return ownersOf(rows)
  }

  async claimImportKey(scope: ImportKeyScope, key: string, claim: ImportKeyOwner, stale?: ImportKeyOwner): Promise<ImportKeyOwner> {
    const { rows } = await this.pool.query<Omit<ImportKeyRow, 'key'>>({
      name: 'import-keys-claim',
      text: SQL.claim,
      values: [scope.workspace, scope.collection, key, claim.recordId, claim.jobId, stale?.recordId ?? null, stale?.jobId ?? null],
    })
    return ownerOf(rows[0]!)
  }

  async sheetTab({ userId, spreadsheetId, tab }: SheetTabName): Promise<SheetTab | undefined> {
    const { rows } = await this.pool.query<SheetStateColumns>({
      name: 'sheet-state-get',
      text: SQL.sheetTab,
      values: [userId, spreadsheetId, tab],
    })
    return rows[0] && sheetTabOf(rows[0])
  }

  async saveSheetTab({ userId, spreadsheetId, tab }: SheetTabName, state: SheetTab): Promise<void> {
    const { header, rows } = sheetStateColumns(state)
    await this.pool.query({
      name: 'sheet-state-save',
      text: SQL.saveSheetTab,
      values: [userId, spreadsheetId, tab, header, rows, Date.now()],
    })
  }

  /**
   * A session advisory lock on a connection of its own, held while `fn` runs: released when
   * `fn` ends, or by PostgreSQL when the process dies. Tried, not waited for, so that an
   * aborted job stops waiting.
   */
  async exclusive<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    try {
      for (;;) {
        signal.throwIfAborted()
        const { rows } = await client.query<{ ok: boolean }>({
          name: 'exclusive-try',
          text: 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok',
          values: [ADVISORY_LOCK.exclusive, key],
        })
        if (rows[0]!.ok) break
        await sleep(EXCLUSIVE_POLL_MS, undefined, { signal })
      }
      try {
        return await fn()
      } finally {
        await client.query({
          name: 'exclusive-release',
          text: 'SELECT pg_advisory_unlock($1, hashtext($2))',
          values: [ADVISORY_LOCK.exclusive, key],
        })
      }
    } finally {
      client.release()
    }
  }

  async sheetTarget({ workspace, userId }: SheetTargetOwner): Promise<SheetTarget | undefined> {
    const { rows } = await this.pool.query<SheetTargetRow>({ text: SQL.sheetTarget, values: [workspace, userId ?? ''] })
    return rows[0] && sheetTargetOf(rows[0])
  }

  async saveSheetTarget({ workspace, userId }: SheetTargetOwner, target: SheetTarget | null): Promise<void> {
    if (!target) {
      await this.pool.query({ text: SQL.forgetSheetTarget, values: [workspace, userId ?? ''] })
      return
    }
    await this.pool.query({
      text: SQL.saveSheetTarget,
      values: [workspace, userId ?? '', target.spreadsheetId, target.title, target.savedBy, target.savedAt],
    })
  }
}
