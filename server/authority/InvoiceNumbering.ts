/**
 * Invoice numbers, the second authority field: when an invoice leaves `draft` (its
 * status becomes `sent`, `paid` or `void`) the server assigns `authority.number`, the
 * workspace's next number: 1, 2, 3, … unique and gapless per workspace.
 *
 * The number is taken in one SQLite transaction that increments the workspace counter
 * and records which invoice got it, so numbers are never skipped or given twice, even
 * when many invoices are sent at once, and an invoice keeps its number forever (back
 * to `draft`, voided or deleted). Assignment is idempotent: if the number never reached
 * the document (a crash between the two writes), the same number is written again on
 * the next update or at start-up (`reconcile`).
 */
import { type FieldValues, isComplete } from '../../shared/collections.js'
import { authorityOf, readFields, readPlainMap } from '../../shared/docLayout.js'
import { recordDocName } from '../../shared/docNames.js'
import type { Db } from '../store/openDatabase.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import type { PendingUpdate } from '../sync/Room.js'
import { AUTHORITY_ORIGIN, type StoredRecord } from './storedRecords.js'

/** The authority key holding the number. */
export const INVOICE_NUMBER = 'number'

export class InvoiceNumbering {
  private readonly statements
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly registry: AccordRegistry,
    private readonly onError: (error: unknown, context: string) => void = () => undefined,
  ) {
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
    }
  }

  /** Stops numbering (before the registry closes). */
  close(): void {
    this.closed = true
  }

  /** The invoice's number, taking the workspace's next one if it has none yet. One transaction. */
  assign(workspace: string, invoiceId: string): number {
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

  /** The number an invoice was given, if any. */
  numberOf(workspace: string, invoiceId: string): number | undefined {
    return this.statements.numberOf.get(workspace, invoiceId)?.number
  }

  /** Numbers invoices that left draft while the server was down, and rewrites numbers that never reached their document. */
  reconcile(invoices: readonly StoredRecord[]): void {
    for (const invoice of invoices) {
      const known = this.numberOf(invoice.workspace, invoice.id)
      if (invoice.authority[INVOICE_NUMBER] === known && known !== undefined) continue
      if (known === undefined && !needsNumber(invoice.fields, invoice.authority)) continue
      this.registry
        .use(recordDocName(invoice.workspace, 'invoices', invoice.id), (room) =>
          this.number(room, invoice.workspace, invoice.id, known !== undefined),
        )
        .catch((error: unknown) => this.onError(error, 'invoice number'))
    }
  }

  handleCommitted(room: AccordRoom, _persisted: PendingUpdate[]): void {
    const name = room.name
    if (this.closed || name.kind !== 'record' || name.collection !== 'invoices') return
    this.number(room, name.workspace, name.id, false)
  }

  /** Writes the invoice's number into its document if it needs one (or `force`: it has one in the table). */
  private number(room: AccordRoom, workspace: string, invoiceId: string, force: boolean): void {
    const authority = authorityOf(room.doc)
    if (!force && !needsNumber(readFields(room.doc, 'invoices'), readPlainMap(authority))) return
    const number = this.assign(workspace, invoiceId)
    if (authority.get(INVOICE_NUMBER) !== number) room.doc.transact(() => authority.set(INVOICE_NUMBER, number), AUTHORITY_ORIGIN)
  }
}

/**
 * A live invoice that left draft and has no number yet. One lacking a required field is not
 * a record yet (no invoice field is required today): numbering it would leave a gap nobody sees.
 */
function needsNumber(fields: FieldValues, authority: FieldValues): boolean {
  return (
    typeof fields.status === 'string' &&
    fields.status !== 'draft' &&
    authority[INVOICE_NUMBER] === undefined &&
    authority.deleted === undefined &&
    isComplete('invoices', fields)
  )
}
