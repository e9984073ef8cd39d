/**
 * The PostgreSQL schema, as an ordered list of migrations (run by `migrate.ts`). A migration,
 * once released, is never edited: a change is a new entry at the end.
 *
 * Today the schema holds the reservation ledger only (`PgReservationLedger`); the rest of
 * Accord still runs on SQLite (docs/postgresql.md).
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
]
