/**
 * The PostgreSQL schema, as an ordered list of migrations (run by `migrate.ts`). A migration,
 * once released, is never edited: a change is a new entry at the end.
 *
 * Every store of server/backend.ts has its tables here, with SQLite's names and columns
 * (docs/postgresql.md), and the cluster's membership and document owners (docs/cluster.md).
 */
export interface Migration {
  /** 1, 2, 3, …: its place in the list. */
  version: number
  /** What it adds, for `schema_migrations` and messages. */
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'reservation ledger',
    // `reservation_slots`: one row per (event, resource) of every active request, `held` when
    // the event is confirmed. The exclusion constraint is the invariant itself: whatever the
    // code does, two held slots of one resource never overlap (`[)`: back to back is fine).
    // `reservations`: the last decision per event; `decision_key` names the decide call that
    // made it, so a caller that lost the connection at COMMIT can tell whether it landed, and
    // `updated` keeps what that call reported about waiting events.
    sql: `
      CREATE EXTENSION IF NOT EXISTS btree_gist;
      CREATE TABLE reservations (
        workspace text NOT NULL,
        event_id text NOT NULL,
        request text NOT NULL,
        decision_key text NOT NULL,
        status text NOT NULL CHECK (status IN ('confirmed', 'conflict', 'released')),
        start_at timestamptz,
        end_at timestamptz,
        conflicts_with text[] NOT NULL DEFAULT '{}',
        updated jsonb NOT NULL DEFAULT '[]',
        decided_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (workspace, event_id),
        CHECK ((status = 'released') = (start_at IS NULL AND end_at IS NULL)),
        CHECK (start_at < end_at)
      );
      CREATE TABLE reservation_slots (
        workspace text NOT NULL,
        resource text NOT NULL,
        event_id text NOT NULL,
        held boolean NOT NULL,
        during tstzrange NOT NULL CHECK (NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during)),
        PRIMARY KEY (workspace, resource, event_id),
        CONSTRAINT reservation_slots_no_overlap
          EXCLUDE USING gist (workspace WITH =, resource WITH =, during WITH &&) WHERE (held)
      );
      CREATE INDEX reservation_slots_waiting ON reservation_slots USING gist (workspace, resource, during) WHERE NOT held;
      CREATE INDEX reservation_slots_by_event ON reservation_slots (workspace, event_id);
    `,
  },
  {
    version: 2,
    name: 'job queue',
    // The rules hold in the database itself: one queued job per coalesce key (JQ2) and one
    // running job per user and lane (JQ1), as partial unique indexes; a running job always has
    // a holder and a lease. `seq` is the queue order. The JSON columns are `json`, not `jsonb`:
    // the queue never looks inside them, and `json` keeps their keys in the order written
    // (counts are shown in that order).
    sql: `
      CREATE TABLE jobs (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        workspace text NOT NULL,
        user_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('export', 'import')),
        target text NOT NULL,
        lane text NOT NULL,
        params json NOT NULL,
        coalesce_key text,
        payload bytea,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        counts json NOT NULL,
        errors json NOT NULL DEFAULT '[]',
        error text,
        result json,
        attempts integer NOT NULL DEFAULT 0,
        lease_owner text,
        lease_until timestamptz,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL))
      );
      CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
      CREATE INDEX jobs_queued_by_lane ON jobs (user_id, lane, seq) WHERE status = 'queued';
      CREATE INDEX jobs_by_user ON jobs (user_id, kind, seq);
      CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
      CREATE UNIQUE INDEX jobs_one_queued_per_key ON jobs (coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL;
      CREATE UNIQUE INDEX jobs_one_running_per_lane ON jobs (user_id, lane) WHERE status = 'running';
    `,
  },
  {
    version: 3,
    name: 'document store',
    // The tables of server/store/openDatabase.ts that the document store writes, with the same
    // columns (history and projection JSON stays text, so readers parse what SQLite holds).
    // `docs.last_seq` numbers each document's log: an append takes the document's row lock
    // and its next numbers in one statement, so a log is numbered in commit order (a global
    // sequence is not: a later number can commit first, and a compaction up to it would
    // delete an update committed after it with a smaller one). `history.seq` may be global:
    // a document's entries are written under the same row lock, so they are numbered in
    // commit order too. Times are milliseconds.
    sql: `
      CREATE TABLE docs (
        doc text PRIMARY KEY,
        last_seq bigint NOT NULL
      );
      CREATE TABLE doc_updates (
        doc text NOT NULL,
        seq bigint NOT NULL,
        data bytea NOT NULL,
        author text,
        at bigint NOT NULL,
        PRIMARY KEY (doc, seq)
      );
      CREATE TABLE doc_snapshots (
        doc text PRIMARY KEY,
        data bytea NOT NULL,
        upto bigint NOT NULL,
        at bigint NOT NULL
      );
      CREATE TABLE doc_clients (
        doc text NOT NULL,
        client bigint NOT NULL,
        user_id text NOT NULL,
        PRIMARY KEY (doc, client)
      );
      CREATE TABLE history (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        doc text NOT NULL,
        at bigint NOT NULL,
        user_id text,
        fields text NOT NULL,
        overwritten text
      );
      CREATE INDEX history_by_doc ON history (doc, seq);
      CREATE TABLE records (
        workspace text NOT NULL,
        collection text NOT NULL,
        id text NOT NULL,
        fields text NOT NULL,
        notes text NOT NULL,
        items text NOT NULL,
        authority text NOT NULL,
        deleted integer NOT NULL DEFAULT 0,
        complete integer NOT NULL DEFAULT 1 CHECK (complete IN (0, 1)),
        version integer NOT NULL DEFAULT 0,
        etag text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        updated_by text,
        PRIMARY KEY (workspace, collection, id)
      );
    `,
  },
  {
    version: 4,
    name: 'workspaces, users, sessions and sign-in attempts',
    // The tables of server/store/openDatabase.ts with the same columns (times in ms). SQLite's
    // `email … UNIQUE COLLATE NOCASE` is the unique index on `lower(email COLLATE "C")`: with
    // the C collation, lower() folds ASCII letters only, as NOCASE does, whatever the
    // database's locale. `login_attempts`: one row per throttled key (account or address) and
    // window (server/limits/PgThrottleStore.ts).
    sql: `
      CREATE TABLE workspaces (
        id text PRIMARY KEY,
        name text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE TABLE users (
        id text PRIMARY KEY,
        workspace text NOT NULL REFERENCES workspaces (id),
        email text NOT NULL,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        password_hash text NOT NULL,
        color text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE UNIQUE INDEX users_email ON users (lower(email COLLATE "C"));
      CREATE INDEX users_by_workspace ON users (workspace);
      CREATE TABLE sessions (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        user_id text NOT NULL REFERENCES users (id),
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        revoked_at bigint
      );
      CREATE INDEX sessions_by_user ON sessions (user_id);
      CREATE TABLE login_attempts (
        key text PRIMARY KEY,
        attempts integer NOT NULL,
        window_start bigint NOT NULL
      );
      CREATE INDEX login_attempts_by_window ON login_attempts (window_start);
      `,
  },
  {
    version: 5,
    name: 'invoice numbers, pending notices, record order',
    // The tables of server/store/openDatabase.ts with the same columns. `records.id` compares
    // byte by byte (COLLATE "C"), as SQLite's text does, whatever the database's locale: lists
    // page by `id > cursor ORDER BY id`, and an id may mix cases, digits, `-` and `_` (a
    // locale's order is not SQLite's, and not stable across libc versions). The primary key is
    // rebuilt with it, so a page is still one index range.
    sql: `
      ALTER TABLE records ALTER COLUMN id TYPE text COLLATE "C";
      CREATE TABLE invoice_counters (
        workspace text PRIMARY KEY,
        last_number bigint NOT NULL
      );
      CREATE TABLE invoice_numbers (
        workspace text NOT NULL,
        invoice_id text NOT NULL,
        number bigint NOT NULL,
        assigned_at bigint NOT NULL,
        PRIMARY KEY (workspace, invoice_id),
        UNIQUE (workspace, number)
      );
      CREATE TABLE pending_notices (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        doc text NOT NULL,
        user_id text NOT NULL,
        notice text NOT NULL,
        at bigint NOT NULL
      );
      CREATE INDEX pending_notices_by_user ON pending_notices (user_id, doc, seq);
      CREATE INDEX pending_notices_by_time ON pending_notices (at);
      `,
  },
  {
    version: 6,
    name: 'job state',
    // The job tables of server/store/openDatabase.ts besides the queue, with the same columns:
    // `import_keys` (server/jobs/importCsv.ts: the duplicate key of every imported record;
    // its primary key is what makes a claim atomic) and `sheet_state`
    // (server/jobs/connectors/sheets.ts: JSON as text, `at` in milliseconds).
    sql: `
      CREATE TABLE import_keys (
        workspace text NOT NULL,
        collection text NOT NULL,
        key text NOT NULL,
        record_id text NOT NULL,
        job_id text NOT NULL,
        PRIMARY KEY (workspace, collection, key)
      );
      CREATE TABLE sheet_state (
        user_id text NOT NULL,
        spreadsheet_id text NOT NULL,
        tab text NOT NULL,
        header text NOT NULL,
        rows text NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (user_id, spreadsheet_id, tab)
      );
      `,
  },
  {
    version: 7,
    name: 'document append ids',
    // One row per document store append, written in its transaction: an append whose COMMIT
    // outcome was lost with its connection is tried again, and the retry, inserting the same
    // id first, waits for the earlier try if it is still running, then finds it landed or
    // writes it (PgDocStore). Rows are needed only while their append is being tried: older
    // ones are pruned by \`at\` (ms, PostgreSQL's clock, so processes' clocks do not matter).
    sql: `
      CREATE TABLE doc_appends (
        id uuid PRIMARY KEY,
        at bigint NOT NULL
      );
      CREATE INDEX doc_appends_by_age ON doc_appends (at);
    `,
  },
  {
    version: 8,
    name: 'cluster members and document owners',
    // PostgreSQL only, with no SQLite counterpart (a cluster runs on PostgreSQL alone), so
    // not copied by migrate-from-sqlite. Members are process lifetimes (a restarted process
    // is a new member) holding leases; `doc_owners` names each document's owner and the
    // epoch of its latest claim. A row of `doc_owners` is never deleted: a document's
    // epochs must keep growing, or a stale owner's epoch could become current again. Times
    // are ms by PostgreSQL's clock (server/cluster/Membership.ts).
    sql: `
      CREATE TABLE cluster_members (
        id text PRIMARY KEY,
        node text NOT NULL,
        started_at bigint NOT NULL,
        lease_until bigint NOT NULL
      );
      CREATE TABLE doc_owners (
        doc text PRIMARY KEY,
        owner text,
        epoch bigint NOT NULL,
        claimed_at bigint NOT NULL
      );
      CREATE INDEX doc_owners_by_owner ON doc_owners (owner) WHERE owner IS NOT NULL;
    `,
  },
  {
    version: 9,
    name: 'job retries',
    // A running job's request waiting to be tried again (server/jobs/JobQueue.ts, JobRetry), as
    // SQLite keeps it: JSON with `nextAt` in ms. Stored so that every process, and the job after
    // a restart, shows it.
    sql: `
      ALTER TABLE jobs ADD COLUMN retry json;
    `,
  },
  {
    version: 10,
    name: 'deactivated users',
    // As SQLite's: a deactivated user is kept (the history they wrote names them) but refused at
    // sign-in, and their sessions are revoked. ms since the epoch, else NULL.
    sql: `
      ALTER TABLE users ADD COLUMN deactivated_at bigint;
    `,
  },
  {
    version: 11,
    name: 'sheet targets',
    // As SQLite's: the spreadsheet each user, and each workspace (user_id ''), syncs to.
    sql: `
      CREATE TABLE sheet_targets (
        workspace text NOT NULL,
        user_id text NOT NULL,
        spreadsheet_id text NOT NULL,
        title text NOT NULL,
        saved_by text NOT NULL,
        saved_at bigint NOT NULL,
        PRIMARY KEY (workspace, user_id)
      );
    `,
  },
  {
    version: 12,
    name: 'invites',
    // As SQLite's: one-time invite links, by the SHA-256 of their token; `email` NULL when
    // whoever accepts chooses it. Used or expired ones stay, so that the link says so.
    sql: `
      CREATE TABLE invites (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        workspace text NOT NULL REFERENCES workspaces (id),
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        email text,
        created_by text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        used_at bigint,
        used_by text
      );
    `,
  },
  {
    version: 13,
    name: 'saved views',
    // As SQLite's: each person's saved list views (server/views/ViewStore.ts); `updated_at` in ms.
    sql: `
      CREATE TABLE saved_views (
        workspace text NOT NULL,
        user_id text NOT NULL,
        id text NOT NULL,
        collection text NOT NULL,
        name text NOT NULL,
        definition jsonb NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (workspace, user_id, id)
      );
    `,
  },
  {
    version: 18,
    name: 'export files',
    // Finished CSV/XLSX exports, so that any member of a cluster can serve a download. SQLite
    // keeps them on disk beside its file instead.
    sql: `
      CREATE TABLE export_files (
        job_id text PRIMARY KEY,
        workspace text NOT NULL,
        bytes bytea NOT NULL,
        created_at bigint NOT NULL
      );
    `,
  },
  {
    version: 19,
    name: 'records search text',
    // As SQLite's: the text a search of records matches (shared/search.ts, searchText), written
    // with each projection; NULL for a record stored before it, until a server's start fills it
    // from the same function (server/records/RecordReads.ts, fillSearchText).
    sql: `
      ALTER TABLE records ADD COLUMN search_text text;
    `,
  },
]
