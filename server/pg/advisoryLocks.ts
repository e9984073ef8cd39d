/**
 * Advisory lock namespaces, one place for all: the first key of PostgreSQL's two-key
 * `pg_advisory_xact_lock(namespace, key)`. Two-key locks never collide with single-key
 * (bigint) ones another program on the same database might take.
 */
export const ADVISORY_LOCK = {
  /** Schema migrations (key 0): one migrator at a time. */
  migrate: 1,
  /** One reservation decision per workspace at a time (key: `hashtext(workspace)`). */
  reservationWorkspace: 2,
  /** JobStateStore.exclusive (key: `hashtext(key)`; a collision only makes two keys wait for each other). */
  exclusive: 3,
} as const
