/**
 * Where invoice numbers are kept: each workspace's counter (`invoice_counters`) and which
 * invoice got which number (`invoice_numbers`, unique per workspace both ways). A number is
 * taken in one transaction that advances the counter and records the invoice, so numbers are
 * never skipped or given twice, however many processes number at once, and asking again for
 * an invoice that has one returns it.
 */
import type { Pool } from '../pg/openPool.js'
import type { Db } from '../store/openDatabase.js'

export interface AssignedNumber {
  workspace: string
  invoiceId: string
  number: number
}

export interface InvoiceNumbers {
  /** The invoice's number, taking the workspace's next one (1, 2, 3, …) if it has none yet. */
  assign(workspace: string, invoiceId: string): Promise<number>
  /** The number an invoice was given, if any. */
  numberOf(workspace: string, invoiceId: string): Promise<number | undefined>
  /** Every number given, in every workspace (start-up reconciliation). */
  all(): Promise<AssignedNumber[]>
}

export class SqliteInvoiceNumbers implements InvoiceNumbers {
  private readonly statements

  constructor(private readonly db: Db) {
    this.statements = {
      numberOf: db.prepare<[string, string], { number: number }>(
        'SELECT number FROM invoice_numbers WHERE workspace = ? AND invoice_id = ?',
      ),
      next: db.prepare<[string], { last_number: number }>(
        `INSERT INTO invoice_counters (workspace, last_number) VALUES (?, 1)
         ON CONFLICT (workspace) DO UPDATE SET last_number = last_number + 1 RETURNING last_number`,
      ),
      record: db.prepare<[string, string, number, number]>(
        'INSERT INTO invoice_numbers (workspace, invoice_id, number, assigned_at) VALUES (?, ?, ?, ?)',
      ),
      all: db.prepare<[], AssignedNumber>('SELECT workspace, invoice_id AS invoiceId, number FROM invoice_numbers'),
    }
  }

  // BEGIN IMMEDIATE: the read and the writes hold the write lock from the start.
  async assign(workspace: string, invoiceId: string): Promise<number> {
    return this.db
      .transaction(() => {
        const existing = this.statements.numberOf.get(workspace, invoiceId)
        if (existing) return existing.number
        const { last_number: number } = this.statements.next.get(workspace)!
        this.statements.record.run(workspace, invoiceId, number, Date.now())
        return number
      })
      .immediate()
  }

  async numberOf(workspace: string, invoiceId: string): Promise<number | undefined> {
    return this.statements.numberOf.get(workspace, invoiceId)?.number
  }

  async all(): Promise<AssignedNumber[]> {
    return this.statements.all.all()
  }
}

/** A unique index refused the row: here, another transaction numbered the same invoice first. */
const UNIQUE_VIOLATION = '23505'
/** Tries of one assignment; a second one finds the number the first lost to. */
const MAX_ATTEMPTS = 3

const SQL = {
  // One statement, so one transaction: the invoice's number if it has one; else the counter
  // row is advanced (its row lock orders concurrent assignments of a workspace) and the
  // number recorded. Two transactions numbering the same invoice at once: the second's
  // insert violates the primary key, its whole statement (its advance included) rolls back,
  // and its retry finds the first one's number.
  assign: `WITH existing AS (
      SELECT number FROM invoice_numbers WHERE workspace = $1 AND invoice_id = $2
    ), next AS (
      INSERT INTO invoice_counters (workspace, last_number) SELECT $1, 1 WHERE NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT (workspace) DO UPDATE SET last_number = invoice_counters.last_number + 1
      RETURNING last_number
    ), recorded AS (
      INSERT INTO invoice_numbers (workspace, invoice_id, number, assigned_at) SELECT $1, $2, last_number, $3 FROM next
      RETURNING number
    )
    SELECT number FROM existing UNION ALL SELECT number FROM recorded`,
  numberOf: 'SELECT number FROM invoice_numbers WHERE workspace = $1 AND invoice_id = $2',
  all: 'SELECT workspace, invoice_id AS "invoiceId", number FROM invoice_numbers',
} as const

export class PgInvoiceNumbers implements InvoiceNumbers {
  /** The pool stays the caller's to end. */
  constructor(private readonly pool: Pool) {}

  async assign(workspace: string, invoiceId: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await this.pool.query<{ number: number }>({
          name: 'invoices-assign',
          text: SQL.assign,
          values: [workspace, invoiceId, Date.now()],
        })
        return rows[0]!.number
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION || attempt >= MAX_ATTEMPTS) throw error
      }
    }
  }

  async numberOf(workspace: string, invoiceId: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ number: number }>({
      name: 'invoices-number-of',
      text: SQL.numberOf,
      values: [workspace, invoiceId],
    })
    return rows[0]?.number
  }

  async all(): Promise<AssignedNumber[]> {
    return (await this.pool.query<AssignedNumber>(SQL.all)).rows
  }
}
