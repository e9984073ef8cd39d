/**
 * Invoice numbers, the second authority field: when an invoice leaves `draft` (its
 * status becomes `sent`, `paid` or `void`) the server assigns `authority.number`, the
 * workspace's next number: 1, 2, 3, … unique and gapless per workspace.
 *
 * The number is taken from the store (InvoiceNumbers: one transaction advances the workspace
 * counter and records which invoice got it), so numbers are never skipped or given twice,
 * even when many invoices are sent at once, and an invoice keeps its number forever (back
 * to `draft`, voided or deleted). Then it is written into the invoice's document. Assignment
 * is idempotent: if the number never reached the document (a crash between the two writes),
 * the same number is written again on the next update or at start-up (`reconcile`).
 */
import { type FieldValues, isComplete } from '../../shared/collections.js'
import { authorityOf, readFields, readPlainMap } from '../../shared/docLayout.js'
import { recordDocName } from '../../shared/docNames.js'
import type { AccordRegistry, AccordRoom } from '../documents/types.js'
import type { PendingUpdate } from '../sync/Room.js'
import type { InvoiceNumbers } from './InvoiceNumbers.js'
import { AUTHORITY_ORIGIN, type StoredRecord } from './storedRecords.js'
import { RetryLater, unavailableForNow } from './RetryLater.js'

/** First wait before a numbering that failed for want of the database is tried again; it doubles up to 30 s. */
const RETRY_MS = 250

/** The authority key holding the number. */
export const INVOICE_NUMBER = 'number'

export class InvoiceNumbering {
  private closed = false
  /** Numberings under way (a number being taken, then written), awaited by `close`. */
  private readonly running = new Set<Promise<void>>()
  /** Invoices whose numbering failed for want of the database, by document: numbered again later. */
  private readonly renumbers = new RetryLater()
  /** Numbers an invoice at its document's owner (maybe another cluster member): a call. */
  private readonly numberInDoc: (docName: string, args: { workspace: string; invoiceId: string; force: boolean }) => Promise<void>

  constructor(
    private readonly numbers: InvoiceNumbers,
    registry: AccordRegistry,
    private readonly onError: (error: unknown, context: string) => void = () => undefined,
  ) {
    this.numberInDoc = registry.defineCall('invoice.number', (room, { workspace, invoiceId, force }) =>
      this.number(room, workspace, invoiceId, force),
    )
  }

  /** Stops numbering and waits for the numberings under way (call before the registry closes). */
  async close(): Promise<void> {
    this.closed = true
    this.renumbers.close()
    await Promise.all(this.running)
  }

  /** The invoice's number, taking the workspace's next one if it has none yet. */
  assign(workspace: string, invoiceId: string): Promise<number> {
    return this.numbers.assign(workspace, invoiceId)
  }

  /** Numbers invoices that left draft while the server was down, and rewrites numbers that never reached their document. */
  async reconcile(invoices: readonly StoredRecord[]): Promise<void> {
    let known: Map<string, number>
    try {
      known = new Map((await this.numbers.all()).map((n) => [recordDocName(n.workspace, 'invoices', n.invoiceId), n.number]))
    } catch (error) {
      this.onError(error, 'invoice numbers')
      return
    }
    for (const invoice of invoices) {
      const number = known.get(recordDocName(invoice.workspace, 'invoices', invoice.id))
      if (invoice.authority[INVOICE_NUMBER] === number && number !== undefined) continue
      if (number === undefined && !needsNumber(invoice.fields, invoice.authority)) continue
      this.numberIn(invoice.workspace, invoice.id, number !== undefined)
    }
  }

  handleCommitted(room: AccordRoom, _persisted: PendingUpdate[]): void {
    const name = room.name
    if (this.closed || name.kind !== 'record' || name.collection !== 'invoices') return
    if (needsNumber(readFields(room.doc, 'invoices'), readPlainMap(authorityOf(room.doc)))) this.numberIn(name.workspace, name.id, false)
  }

  /**
   * Numbers an invoice on its live document (kept loaded meanwhile); failures are reported,
   * and one for want of the database (PostgreSQL restarting) is tried again with backoff.
   */
  private numberIn(workspace: string, invoiceId: string, force: boolean, retryMs = RETRY_MS): void {
    if (this.closed) return
    const docName = recordDocName(workspace, 'invoices', invoiceId)
    const done: Promise<void> = this.numberInDoc(docName, { workspace, invoiceId, force })
      .catch((error: unknown) => {
        this.onError(error, 'invoice number')
        if (unavailableForNow(error)) this.renumbers.schedule(docName, retryMs, (next) => this.numberIn(workspace, invoiceId, force, next))
      })
      .finally(() => this.running.delete(done))
    this.running.add(done)
  }

  /** Writes the invoice's number into its document if it needs one (or `force`: it has one in the table). */
  private async number(room: AccordRoom, workspace: string, invoiceId: string, force: boolean): Promise<void> {
    const authority = authorityOf(room.doc)
    if (!force && !needsNumber(readFields(room.doc, 'invoices'), readPlainMap(authority))) return
    const number = await this.assign(workspace, invoiceId)
    if (room.state !== 'closed' && authority.get(INVOICE_NUMBER) !== number)
      room.doc.transact(() => authority.set(INVOICE_NUMBER, number), AUTHORITY_ORIGIN)
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
