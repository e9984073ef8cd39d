/**
 * An invoice as a page to send: the workspace's name, the customer, the items, the tax rate
 * and the totals. The browser prints it, or saves it as a PDF; the app's frame is left out
 * of the print (records.css).
 */
import { useEffect, useState } from 'react'
import { itemTotals, type LineItem } from '../../../shared/collections.js'
import { formatDate } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import '../records.css'

interface Invoice {
  id: string
  customerId?: string
  dueDate?: string
  status?: string
  currency?: string
  taxRate?: number
  number?: number | string
  items?: LineItem[]
  notes: string
  updatedAt: string
}

interface Customer {
  name: string
  company?: string
  email?: string
  phone?: string
}

interface Loaded {
  invoice: Invoice
  customer: Customer | null
  workspace: { id: string; name: string }
}

/** A customer the invoice names, or null when it has none or it is gone. */
async function customerOf(id: string | undefined): Promise<Customer | null> {
  if (!id) return null
  return api<Customer>('GET', `/api/records/customers/${id}`).catch((e: unknown) => {
    if (e instanceof ApiError && e.status === 404) return null
    throw e
  })
}

export default function InvoicePrintScreen({ id }: { id: string }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    let live = true
    Promise.all([api<Invoice>('GET', `/api/records/invoices/${id}`), api<{ id: string; name: string }>('GET', '/api/workspace')])
      .then(async ([invoice, workspace]) => ({ invoice, workspace, customer: await customerOf(invoice.customerId) }))
      .then((result) => live && setLoaded(result))
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e.message : 'Could not load the invoice'))
    return () => {
      live = false
    }
  }, [id])

  if (error) return <p className="notice notice-error">{error}</p>
  if (!loaded) return <div className="loading">Loading…</div>
  const { invoice, customer, workspace } = loaded
  const currency = invoice.currency ?? 'EUR'
  const money = new Intl.NumberFormat(undefined, { style: 'currency', currency })
  const items = invoice.items ?? []
  const taxRate = invoice.taxRate ?? 0
  const totals = itemTotals(items, taxRate)
  const number = invoice.number === undefined ? null : String(invoice.number)

  return (
    <article className="invoice-print" data-testid="invoice-print">
      <div className="print-actions">
        <a
          className="back"
          href={`/invoices/${id}`}
          onClick={(e) => {
            e.preventDefault()
            navigate(`/invoices/${id}`)
          }}
        >
          ← Back to the invoice
        </a>
        <button type="button" className="button button-primary" onClick={() => window.print()}>
          Print / Save as PDF
        </button>
      </div>
      <header className="invoice-head">
        <div>
          <div className="invoice-from" data-testid="invoice-workspace">
            {workspace.name}
          </div>
        </div>
        <div className="invoice-meta">
          <h1>{number ? `Invoice ${number}` : 'Draft invoice'}</h1>
          <dl>
            <dt>Date</dt>
            <dd>{new Date(invoice.updatedAt).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' })}</dd>
            {invoice.dueDate && (
              <>
                <dt>Due</dt>
                <dd>{formatDate(invoice.dueDate)}</dd>
              </>
            )}
          </dl>
        </div>
      </header>
      <section className="invoice-to" aria-label="Bill to" data-testid="invoice-customer">
        <h2>Bill to</h2>
        {customer ? (
          <>
            <div className="invoice-customer-name">{customer.name}</div>
            {customer.company && customer.company !== customer.name && <div>{customer.company}</div>}
            {customer.email && <div>{customer.email}</div>}
            {customer.phone && <div>{customer.phone}</div>}
          </>
        ) : (
          <div className="cell-muted">No customer</div>
        )}
      </section>
      <table className="invoice-items">
        <thead>
          <tr>
            <th>Description</th>
            <th className="num">Quantity</th>
            <th className="num">Unit price</th>
            <th className="num">Amount</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item, i) => (
            <tr key={i}>
              <td>{item.description}</td>
              <td className="num">{item.quantity}</td>
              <td className="num">{money.format(item.unitPrice)}</td>
              <td className="num">{money.format(item.quantity * item.unitPrice)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td colSpan={3}>Subtotal</td>
            <td className="num" data-testid="invoice-subtotal">
              {money.format(totals.subtotal)}
            </td>
          </tr>
          <tr>
            <td colSpan={3}>Tax ({new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(taxRate)} %)</td>
            <td className="num" data-testid="invoice-tax">
              {money.format(totals.tax)}
            </td>
          </tr>
          <tr className="invoice-total">
            <td colSpan={3}>Total</td>
            <td className="num" data-testid="invoice-total">
              {money.format(totals.total)}
            </td>
          </tr>
        </tfoot>
      </table>
      {invoice.notes && <p className="invoice-notes">{invoice.notes}</p>}
    </article>
  )
}
