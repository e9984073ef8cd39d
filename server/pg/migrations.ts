/**
 * The PostgreSQL schema, as an ordered list of migrations (run by `migrate.ts`). A migration,
 * once released, is never edited: a change is a new entry at the end.
 *
 * Today the schema holds the reservation ledger (`PgReservationLedger`), the job queue
 * (`PgJobQueue`) and the document store (`PgDocStore`); the server still runs on SQLite
 * (docs/postgresql.md).
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
    version: 8,
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
]
