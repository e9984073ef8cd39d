/**
 * What jobs remember between runs besides the queue: the duplicate key of every record an
 * import created (importCsv.ts), and what each user's last Sheets export wrote to each tab
 * (connectors/sheets.ts). One implementation per backend, both held to one contract
 * (test/jobstate.contract.test.ts).
 */

/** A record an import created, and the job that created it, under the record's duplicate key. */
export interface ImportKeyOwner {
  recordId: string
  jobId: string
}

/** Where duplicate keys are unique: one collection of one workspace. */
export interface ImportKeyScope {
  workspace: string
  collection: string
}

/** A tab's header and its rows, each a record id and the hash of its cells, in sheet order. */
export interface TabState {
  header: string[]
  rows: [id: string, hash: string][]
}

/**
 * What a tab holds now, the job that wrote it, and what it held before that job (`baseline`),
 * so that a job retried after a crash reports the same counts as its first attempt would have.
 */
export interface SheetTab extends TabState {
  jobId: string | null
  baseline: TabState
}

/** Sheets state is per user: each user's exports sync against what that user wrote. */
export interface SheetTabName {
  userId: string
  spreadsheetId: string
  tab: string
}

/** The spreadsheet a user, or a workspace (`userId` null), syncs to, checked when saved. */
export interface SheetTarget {
  spreadsheetId: string
  /** Its title when it was saved. */
  title: string
  savedBy: string
  /** ms since the epoch. */
  savedAt: number
}

/** Whose spreadsheet: a user's own, or the workspace's (`userId` null). */
export interface SheetTargetOwner {
  workspace: string
  userId: string | null
}

/** A `sheet_targets` row (the same columns in both databases); the workspace's has user_id "". */
export interface SheetTargetRow {
  spreadsheet_id: string
  title: string
  saved_by: string
  saved_at: number | string
}

export const sheetTargetOf = (row: SheetTargetRow): SheetTarget => ({
  spreadsheetId: row.spreadsheet_id,
  title: row.title,
  savedBy: row.saved_by,
  savedAt: Number(row.saved_at),
})

export interface JobStateStore {
  /** The owners of those of `keys` that have one. */
  importKeyOwners(scope: ImportKeyScope, keys: readonly string[]): Promise<Map<string, ImportKeyOwner>>
  /**
   * Makes `claim` the owner of `key` when the key has none, or when its owner is still
   * `stale` (a record since deleted), and returns the key's owner afterwards: `claim` itself
   * when it won. One step: of any number of claims of a key at once, in any processes, one
   * wins and every one of them returns the winner.
   */
  claimImportKey(scope: ImportKeyScope, key: string, claim: ImportKeyOwner, stale?: ImportKeyOwner): Promise<ImportKeyOwner>
  /** What the user's last export wrote to the tab, if any. */
  sheetTab(name: SheetTabName): Promise<SheetTab | undefined>
  saveSheetTab(name: SheetTabName, state: SheetTab): Promise<void>
  sheetTarget(owner: SheetTargetOwner): Promise<SheetTarget | undefined>
  /** Saves the owner's spreadsheet, or forgets it (`null`). */
  saveSheetTarget(owner: SheetTargetOwner, target: SheetTarget | null): Promise<void>
  /**
   * Runs `fn` while no other holder of `key` runs one, in any process: a workspace's
   * spreadsheet is synced by one job at a time, whoever started it. Waits for the holder;
   * rejects when `signal` aborts first.
   */
  exclusive<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T>
}

/** How often a waiter for an `exclusive` key held elsewhere looks again. */
export const EXCLUSIVE_POLL_MS = 100

export const sameOwner = (a: ImportKeyOwner, b: ImportKeyOwner) => a.recordId === b.recordId && a.jobId === b.jobId

/** The columns of an `import_keys` row that name its owner (the same in both databases). */
export interface ImportKeyRow {
  key: string
  record_id: string
  job_id: string
}

export const ownerOf = (row: Omit<ImportKeyRow, 'key'>): ImportKeyOwner => ({ recordId: row.record_id, jobId: row.job_id })

export const ownersOf = (rows: ImportKeyRow[]) => new Map(rows.map((row) => [row.key, ownerOf(row)]))

/** The columns of a `sheet_state` row, both JSON text (the same in both databases). */
export interface SheetStateColumns {
  header: string
  rows: string
}

export function sheetStateColumns(state: SheetTab): SheetStateColumns {
  return {
    header: JSON.stringify(state.header),
    rows: JSON.stringify({ rows: state.rows, jobId: state.jobId, baseline: state.baseline }),
  }
}

export function sheetTabOf(columns: SheetStateColumns): SheetTab {
  const stored = JSON.parse(columns.rows) as { rows: TabState['rows']; jobId: string; baseline: TabState }
  return { header: JSON.parse(columns.header) as string[], rows: stored.rows, jobId: stored.jobId, baseline: stored.baseline }
}
