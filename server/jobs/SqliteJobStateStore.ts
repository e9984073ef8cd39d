/**
 * Job state in the embedded SQLite database (tables `import_keys` and `sheet_state`,
 * server/store/openDatabase.ts). better-sqlite3 is synchronous: each method is one statement,
 * done before it returns an already settled promise.
 */
import { type Db, statementCache } from '../store/openDatabase.js'
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
import { ownerOf, ownersOf, sheetStateColumns, sheetTabOf, sheetTargetOf } from './JobStateStore.js'

const SQL = {
  owners: `SELECT key, record_id, job_id FROM import_keys
    WHERE workspace = ? AND collection = ? AND key IN (SELECT value FROM json_each(?))`,
  // Every conflicting claim updates the row (to itself unless the owner is `stale`), so the
  // statement always returns the owner it left.
  claim: `INSERT INTO import_keys (workspace, collection, key, record_id, job_id) VALUES (@workspace, @collection, @key, @recordId, @jobId)
    ON CONFLICT (workspace, collection, key) DO UPDATE SET
      record_id = CASE WHEN record_id = @staleRecord AND job_id = @staleJob THEN excluded.record_id ELSE record_id END,
      job_id = CASE WHEN record_id = @staleRecord AND job_id = @staleJob THEN excluded.job_id ELSE job_id END
    RETURNING record_id, job_id`,
  sheetTab: 'SELECT header, rows FROM sheet_state WHERE user_id = ? AND spreadsheet_id = ? AND tab = ?',
  saveSheetTab: `INSERT INTO sheet_state (user_id, spreadsheet_id, tab, header, rows, at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (user_id, spreadsheet_id, tab) DO UPDATE SET header = excluded.header, rows = excluded.rows, at = excluded.at`,
  sheetTarget: 'SELECT spreadsheet_id, title, saved_by, saved_at FROM sheet_targets WHERE workspace = ? AND user_id = ?',
  saveSheetTarget: `INSERT INTO sheet_targets (workspace, user_id, spreadsheet_id, title, saved_by, saved_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (workspace, user_id) DO UPDATE SET spreadsheet_id = excluded.spreadsheet_id, title = excluded.title,
      saved_by = excluded.saved_by, saved_at = excluded.saved_at`,
  forgetSheetTarget: 'DELETE FROM sheet_targets WHERE workspace = ? AND user_id = ?',
}

/**
 * The `exclusive` keys held in this process, shared by every store: a SQLite database is
 * served by one process, so no other can hold one.
 */
const HELD = new Map<string, Promise<void>>()

export class SqliteJobStateStore implements JobStateStore {
  private readonly stmt

  constructor(db: Db) {
    this.stmt = statementCache(db)
  }

  async importKeyOwners(scope: ImportKeyScope, keys: readonly string[]): Promise<Map<string, ImportKeyOwner>> {
    return ownersOf(this.stmt(SQL.owners).all(scope.workspace, scope.collection, JSON.stringify(keys)) as ImportKeyRow[])
  }

  async claimImportKey(scope: ImportKeyScope, key: string, claim: ImportKeyOwner, stale?: ImportKeyOwner): Promise<ImportKeyOwner> {
    const row = this.stmt(SQL.claim).get({
      ...scope,
      key,
      ...claim,
      staleRecord: stale?.recordId ?? null,
      staleJob: stale?.jobId ?? null,
    }) as ImportKeyRow
    return ownerOf(row)
  }

  async sheetTab({ userId, spreadsheetId, tab }: SheetTabName): Promise<SheetTab | undefined> {
    const row = this.stmt(SQL.sheetTab).get(userId, spreadsheetId, tab) as SheetStateColumns | undefined
    return row && sheetTabOf(row)
  }

  async saveSheetTab({ userId, spreadsheetId, tab }: SheetTabName, state: SheetTab): Promise<void> {
    const { header, rows } = sheetStateColumns(state)
    this.stmt(SQL.saveSheetTab).run(userId, spreadsheetId, tab, header, rows, Date.now())
  }

  async exclusive<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    for (let holder = HELD.get(key); holder; holder = HELD.get(key)) {
      signal.throwIfAborted()
      await Promise.race([holder, aborted(signal)])
    }
    signal.throwIfAborted()
    let release = () => {}
    HELD.set(key, new Promise<void>((resolve) => (release = resolve)))
    try {
      return await fn()
    } finally {
      HELD.delete(key)
      release()
    }
  }

  async sheetTarget({ workspace, userId }: SheetTargetOwner): Promise<SheetTarget | undefined> {
    const row = this.stmt(SQL.sheetTarget).get(workspace, userId ?? '') as SheetTargetRow | undefined
    return row && sheetTargetOf(row)
  }

  async saveSheetTarget({ workspace, userId }: SheetTargetOwner, target: SheetTarget | null): Promise<void> {
    if (!target) return void this.stmt(SQL.forgetSheetTarget).run(workspace, userId ?? '')
    this.stmt(SQL.saveSheetTarget).run(workspace, userId ?? '', target.spreadsheetId, target.title, target.savedBy, target.savedAt)
  }
}

/** Settles (rejecting) when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
}
