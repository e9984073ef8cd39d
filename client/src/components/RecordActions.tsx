/**
 * The sales steps a record offers in its header: convert a lead (into a customer and a
 * deal), create an invoice from a won deal or an accepted proposal, print an invoice.
 */
import { useState } from 'react'
import type { Collection, FieldValues } from '../../../shared/collections.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useToast } from './Toasts.js'

export function RecordActions(props: { collection: Collection; id: string; fields: FieldValues; canWrite: boolean }) {
  const { collection, id, fields, canWrite } = props
  const toast = useToast()
  const [busy, setBusy] = useState(false)

  async function run<T>(path: string, then: (result: T) => void, failure: string) {
    setBusy(true)
    try {
      then(await api<T>('POST', path, {}))
    } catch (e) {
      toast(e instanceof ApiError ? e.message : failure, 'error')
    } finally {
      setBusy(false)
    }
  }

  const buttons = []
  if (canWrite && collection === 'leads' && fields.status !== 'converted' && fields.name) {
    buttons.push(
      <button
        key="convert"
        type="button"
        className="button button-primary"
        disabled={busy}
        onClick={() =>
          void run<{ customer: { id: string } }>(
            `/api/records/leads/${id}/convert`,
            ({ customer }) => {
              toast('Lead converted into a customer and a deal', 'success')
              navigate(`/customers/${customer.id}`)
            },
            'Could not convert the lead',
          )
        }
      >
        Convert to customer
      </button>,
    )
  }
  const invoiceable = (collection === 'deals' && fields.stage === 'won') || (collection === 'proposals' && fields.status === 'accepted')
  if (canWrite && invoiceable) {
    buttons.push(
      <button
        key="invoice"
        type="button"
        className="button button-primary"
        disabled={busy}
        onClick={() =>
          void run<{ id: string }>(
            `/api/records/${collection}/${id}/invoice`,
            (invoice) => {
              toast('Invoice created', 'success')
              navigate(`/invoices/${invoice.id}`)
            },
            'Could not create the invoice',
          )
        }
      >
        Create invoice
      </button>,
    )
  }
  if (collection === 'invoices') {
    buttons.push(
      <a
        key="print"
        className="button"
        href={`/invoices/${id}/print`}
        onClick={(e) => {
          e.preventDefault()
          navigate(`/invoices/${id}/print`)
        }}
      >
        Print / PDF
      </a>,
    )
  }
  return <>{buttons}</>
}
