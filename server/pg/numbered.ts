/**
 * SQL written once for both databases: `?` parameters, as SQLite takes them, numbered as
 * PostgreSQL's `$1`, `$2`, … (for statements with no `?` inside a literal or an operator).
 */
export function numbered(sql: string): string {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}
