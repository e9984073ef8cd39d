/**
 * The sales steps that make records from records: a lead converted into a customer and a
 * deal, and an invoice made from a won deal or an accepted proposal. Each new record is
 * created through RecordService (validated, a transaction on its live document), and
 * everything it is made of is checked before anything is written.
 */
import type { FieldValues, LineItem } from '../../shared/collections.js'
import { fieldsOf, readFields } from '../../shared/docLayout.js'
import { newRecordId, recordDocName } from '../../shared/docNames.js'
import { authorityOf } from '../../shared/docLayout.js'
import type { AccordRegistry } from '../documents/types.js'
import { serverOrigin } from '../sync/types.js'
import { RecordError } from './RecordError.js'
import type { ApiRecord } from './RecordReads.js'
import { checkNew, type RecordService } from './RecordService.js'

/** What a conversion may set on the new records, over what the lead gives them. */
export interface ConversionInput {
  customer?: Record<string, unknown>
  deal?: Record<string, unknown>
}

export interface Conversion {
  lead: ApiRecord
  customer: ApiRecord
  deal: ApiRecord
}

/** The collections an invoice can be made from. */
export const INVOICE_SOURCES = ['deals', 'proposals'] as const
export type InvoiceSource = (typeof INVOICE_SOURCES)[number]

/** Keeps only the values that say something (no empty strings, no absent values). */
function present(values: FieldValues): FieldValues {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined && value !== ''))
}

function objectOr(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordError('invalid', `${path} must be an object`, [{ path, message: `${path} must be an object` }])
  }
  return value as Record<string, unknown>
}

export class SalesWorkflow {
  /** Marks a lead converted unless it is converted or deleted already; false then. A call: it runs where the lead's document is owned. */
  private readonly markConverted: (docName: string, args: { customerId: string; dealId: string; userId: string }) => Promise<boolean>

  constructor(
    registry: AccordRegistry,
    private readonly records: RecordService,
  ) {
    this.markConverted = registry.defineCall('lead.convert', (room, { customerId, dealId, userId }) => {
      const fields = readFields(room.doc, 'leads')
      if (fields.status === 'converted' || typeof authorityOf(room.doc).get('deleted') === 'string') return false
      room.doc.transact(
        () => {
          const map = fieldsOf(room.doc)
          map.set('status', 'converted')
          map.set('customerId', customerId)
          map.set('dealId', dealId)
        },
        serverOrigin('api', userId),
      )
      return true
    })
  }

  /**
   * Converts a lead: a customer (named after the lead's company, or the lead, with its notes)
   * and a deal for that customer, both linking back with `leadId`; the lead becomes
   * `converted` and points at them (`customerId`, `dealId`). RecordError `conflict` when the
   * lead was converted already (checked and marked in one turn, so two conversions cannot both win).
   */
  async convertLead(workspace: string, leadId: string, input: ConversionInput, userId: string): Promise<Conversion> {
    const lead = await this.records.get(workspace, 'leads', leadId)
    if (lead.status === 'converted') throw new RecordError('conflict', 'this lead is converted already')
    const name = String(lead.company || lead.name)
    const customerId = newRecordId()
    const dealId = newRecordId()
    const customer = {
      ...present({ name, company: lead.company, email: lead.email, ownerId: lead.ownerId, notes: lead.notes }),
      leadId,
      ...objectOr(input.customer, 'customer'),
    }
    const deal = {
      ...present({ title: `${name} deal`, ownerId: lead.ownerId }),
      customerId,
      leadId,
      ...objectOr(input.deal, 'deal'),
    }
    prefixIssues('customer', () => checkNew('customers', customer))
    prefixIssues('deal', () => checkNew('deals', deal))
    const claimed = await this.markConverted(recordDocName(workspace, 'leads', leadId), { customerId, dealId, userId })
    if (!claimed) throw new RecordError('conflict', 'this lead is converted already')
    return {
      customer: await this.records.create(workspace, 'customers', customer, userId, customerId),
      deal: await this.records.create(workspace, 'deals', deal, userId, dealId),
      lead: await this.records.get(workspace, 'leads', leadId),
    }
  }

  /**
   * A draft invoice from a won deal (the items of its accepted proposals, or one line of its
   * amount) or from an accepted proposal (its items); customer, deal and currency come along.
   * `input` may set more invoice fields (a due date, a tax rate). RecordError `conflict` when
   * the deal is not won or the proposal not accepted.
   */
  async invoiceFrom(
    workspace: string,
    source: InvoiceSource,
    id: string,
    input: Record<string, unknown>,
    userId: string,
  ): Promise<ApiRecord> {
    const record = await this.records.get(workspace, source, id)
    let base: FieldValues
    if (source === 'deals') {
      if (record.stage !== 'won') throw new RecordError('conflict', 'only a won deal can be invoiced')
      const accepted = (await this.records.all(workspace, 'proposals')).filter((p) => p.dealId === id && p.status === 'accepted')
      const items: LineItem[] = accepted.flatMap((p) => p.items ?? [])
      base = {
        ...present({ customerId: record.customerId, currency: record.currency }),
        dealId: id,
        items: items.length > 0 ? items : [{ description: String(record.title), quantity: 1, unitPrice: Number(record.amount ?? 0) }],
      }
    } else {
      if (record.status !== 'accepted') throw new RecordError('conflict', 'only an accepted proposal can be invoiced')
      const deal = typeof record.dealId === 'string' && record.dealId ? await this.dealOf(workspace, record.dealId) : null
      base = {
        ...present({ dealId: record.dealId, customerId: deal?.customerId, currency: deal?.currency }),
        proposalId: id,
        items: record.items ?? [],
      }
    }
    return this.records.create(workspace, 'invoices', { ...base, status: 'draft', ...input }, userId)
  }

  private dealOf(workspace: string, id: string): Promise<ApiRecord | null> {
    return this.records.get(workspace, 'deals', id).catch((error: unknown) => {
      if (error instanceof RecordError && error.code === 'not-found') return null
      throw error
    })
  }
}

/** Runs a check of one of several new records, its issues' paths prefixed with which one. */
function prefixIssues(prefix: string, check: () => unknown): void {
  try {
    check()
  } catch (error) {
    if (!(error instanceof RecordError)) throw error
    throw new RecordError(
      error.code,
      `the ${prefix} is not valid`,
      error.issues.map((issue) => ({ ...issue, path: `${prefix}.${issue.path}` })),
    )
  }
}
