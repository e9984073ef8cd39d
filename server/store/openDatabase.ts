/**
 * Opens the SQLite database (creating its folder) in WAL mode and brings the
 * schema up to date.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

export type Db = Database.Database

const MIGRATIONS: string[] = [
  `
  CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner','admin','member','viewer')),
    password_hash TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE TABLE doc_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    data BLOB NOT NULL,
    author TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX doc_updates_by_doc ON doc_updates(doc, seq);
  CREATE TABLE doc_snapshots (
    doc TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    upto INTEGER NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    at INTEGER NOT NULL,
    user_id TEXT,
    fields TEXT NOT NULL
  );
  CREATE INDEX history_by_doc ON history(doc, seq);
  CREATE TABLE records (
    workspace TEXT NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    fields TEXT NOT NULL,
    notes TEXT NOT NULL,
    items TEXT NOT NULL,
    authority TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    etag TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (workspace, collection, id)
  );
  `,
  // jobs (exports and imports), Google Sheets sync state, import dedupe keys
  `
  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('export','import')),
    target TEXT NOT NULL,
    lane TEXT NOT NULL,
    params TEXT NOT NULL,
    coalesce_key TEXT,
    payload BLOB,
    status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),
    counts TEXT NOT NULL,
    errors TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX jobs_queued ON jobs(status, user_id, lane, seq);
  CREATE INDEX jobs_by_user ON jobs(user_id, kind, seq);
  CREATE UNIQUE INDEX jobs_one_queued_per_key ON jobs(coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL;
  CREATE UNIQUE INDEX jobs_one_running_per_lane ON jobs(user_id, lane) WHERE status = 'running';
  CREATE TABLE sheet_state (
    user_id TEXT NOT NULL,
    spreadsheet_id TEXT NOT NULL,
    tab TEXT NOT NULL,
    header TEXT NOT NULL,
    rows TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (user_id, spreadsheet_id, tab)
  );
  CREATE TABLE import_keys (
    workspace TEXT NOT NULL,
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    record_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (workspace, collection, key)
  );
  `,
  // calendar reservation ledger (server/authority/SqliteReservationLedger.ts) and invoice numbers
  `
  CREATE TABLE reservations (
    workspace TEXT NOT NULL,
    event_id TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed','conflict','released')),
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    conflicts_with TEXT NOT NULL DEFAULT '[]',
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, event_id)
  );
  CREATE TABLE reservation_slots (
    workspace TEXT NOT NULL,
    resource TEXT NOT NULL,
    event_id TEXT NOT NULL,
    held INTEGER NOT NULL CHECK (held IN (0, 1)),
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL CHECK (end_ms > start_ms),
    PRIMARY KEY (workspace, resource, event_id)
  );
  CREATE INDEX reservation_slots_by_time ON reservation_slots(workspace, resource, held, start_ms);
  CREATE INDEX reservation_slots_by_event ON reservation_slots(workspace, event_id);
  CREATE TRIGGER reservation_slots_no_overlap BEFORE INSERT ON reservation_slots WHEN NEW.held = 1
  BEGIN
    SELECT RAISE(ABORT, 'overlapping confirmed reservation') WHERE EXISTS (
      SELECT 1 FROM reservation_slots s
      WHERE s.workspace = NEW.workspace AND s.resource = NEW.resource AND s.held = 1
        AND s.event_id != NEW.event_id AND s.start_ms < NEW.end_ms AND s.end_ms > NEW.start_ms
    );
  END;
  CREATE TABLE invoice_counters (
    workspace TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
  );
  CREATE TABLE invoice_numbers (
    workspace TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, invoice_id),
    UNIQUE (workspace, number)
  );
  `,
  // Records lacking a required field (created field by field over the socket) are kept but
  // not served: `complete` says which are. Rows stored before it are marked by the required
  // fields of the time (shared/collections.ts, REQUIRED_FIELDS).
  `
  ALTER TABLE records ADD COLUMN complete INTEGER NOT NULL DEFAULT 1 CHECK (complete IN (0, 1));
  UPDATE records SET complete = 0 WHERE
    (collection IN ('customers', 'leads') AND json_extract(fields, '$.name') IS NULL)
    OR (collection IN ('deals', 'proposals') AND json_extract(fields, '$.title') IS NULL)
    OR (collection = 'events' AND (json_extract(fields, '$.title') IS NULL OR json_extract(fields, '$.start') IS NULL OR json_extract(fields, '$.end') IS NULL));
  `,
  // sign-in attempts per account and per address, one row per key and window (server/limits/LoginThrottle.ts)
  `
  CREATE TABLE login_attempts (
    key TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    window_start INTEGER NOT NULL
  );
  CREATE INDEX login_attempts_by_window ON login_attempts(window_start);
  `,
  // A record's version: its accepted changes, added to in the same transaction as the updates
  // (server/records/recordProjection.ts). How many a record had before is gone once its log
  // was compacted (every document is, when it leaves memory), so a stored record starts from
  // the most that is still known: its history entries (one per run of edits, never
  // compacted) or its logged updates (one more for a snapshot, which stands for at least
  // one), at least 1. The starting point only has to be a plausible count; from here on the
  // version never goes back.
  `
  ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
  UPDATE records SET version = MAX(
    1,
    (SELECT COUNT(*) FROM history WHERE history.doc = records.workspace || '/' || records.collection || '/' || records.id),
    (SELECT COUNT(*) FROM doc_updates WHERE doc_updates.doc = records.workspace || '/' || records.collection || '/' || records.id)
      + (SELECT COUNT(*) FROM doc_snapshots WHERE doc_snapshots.doc = records.workspace || '/' || records.collection || '/' || records.id)
  );
  `,
  // Concurrent sets of one field (server/sync/DocPolicy.ts, GuardResult): who first wrote with each
  // Yjs client id of a document, so the author of a value written long ago is known; the value
  // that lost, on the history entry of the one kept; notices for people who were not connected.
  `
  CREATE TABLE doc_clients (
    doc TEXT NOT NULL,
    client INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (doc, client)
  ) WITHOUT ROWID;
  ALTER TABLE history ADD COLUMN overwritten TEXT;
  CREATE TABLE pending_notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    user_id TEXT NOT NULL,
    notice TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX pending_notices_by_user ON pending_notices(user_id, doc, seq);
  CREATE INDEX pending_notices_by_time ON pending_notices(at);
  `,
  // A running job's request waiting to be tried again (server/jobs/JobQueue.ts, JobRetry; JSON):
  // stored so that every process, and the job after a restart, shows it.
  `
  ALTER TABLE jobs ADD COLUMN retry TEXT;
  `,
  // A deactivated user (server/auth/AuthService.ts, deactivateUser): kept, for the history they
  // wrote, but refused at sign-in and with no live session. ms since the epoch, else NULL.
  `
  ALTER TABLE users ADD COLUMN deactivated_at INTEGER;
  `,
  // The spreadsheet each user, and each workspace (user_id ''), syncs to (server/jobs/JobStateStore.ts,
  // SheetTarget): saved once checked, so that *Sync to Google Sheets* needs nothing more.
  `
  CREATE TABLE sheet_targets (
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    spreadsheet_id TEXT NOT NULL,
    title TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, user_id)
  );
  `,
  // One-time invite links (server/auth/AuthService.ts, createInvite): only the token's SHA-256 is
  // kept; `email` NULL lets whoever accepts choose theirs. Used or expired ones stay, to say so.
  `
  CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL REFERENCES workspaces(id),
    role TEXT NOT NULL CHECK (role IN ('owner','admin','member','viewer')),
    email TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_by TEXT
  );
  `,
  // Each person's saved list views (server/views/ViewStore.ts): columns, sort and filters as JSON.
  `
  CREATE TABLE saved_views (
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    collection TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, user_id, id)
  );
  `,
  // The text a search of records matches (shared/search.ts, searchText): the field values, never
  // their names, written with each projection. NULL for a record stored before it, until the
  // server fills it at start-up from the same function (RecordReads.fillSearchText).
  `
  ALTER TABLE records ADD COLUMN search_text TEXT;
  `,
  // The last number of the record's log (doc_updates.seq, or its snapshot's upto) that the row
  // reflects: rows are written just after their updates (server/sync/CommitQueue.ts,
  // projectAfterBroadcast), and a start finds those a crash left behind by updates past it.
  // Rows written before were written with their updates: they reflect everything logged so far.
  `
  ALTER TABLE records ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0;
  UPDATE records SET log_seq = COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'doc_updates'), 0);
  `,
]

/** The schema version (`PRAGMA user_version`) of a database this code has opened. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length

export interface OpenOptions {
  /** `full` survives power loss; `normal` survives a crash of the process only. @default 'full' */
  synchronous?: 'full' | 'normal'
}

/**
 * Prepared statements by SQL text, each compiled once: for code that runs a query on a
 * timer or per request (compiling one costs as much as running it).
 */
export function statementCache(db: Db): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>()
  return (sql) => {
    let statement = statements.get(sql)
    if (!statement) statements.set(sql, (statement = db.prepare(sql)))
    return statement
  }
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`)
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  migrate(db)
  return db
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}
