/** The record editor's header (title, invoice number, viewers, delete) and its rejection banner. */
import type { ReactNode } from 'react'
import type { Collection, FieldValues } from '../../../shared/collections.js'
import type { RejectedNotice } from '../../../shared/protocol.js'
import { COLLECTION_LABELS, fieldLabel } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { BackToList } from './RecordLink.js'
import { useToast } from './Toasts.js'

const REASONS: Record<RejectedNotice['reason'], string> = {
  invalid: 'The server rejected an invalid value',
  authority: 'Only the server may change this',
  'read-only': 'You have read-only access; your change was undone',
  'server-only': 'Only the server may change this',
}

export interface RecordHeaderProps {
  collection: Collection
  id: string
  titleId: string
  title: string
  fields: FieldValues
  authority: FieldValues
  viewers: ReactNode
  canDelete: boolean
  /** Buttons of the steps this record offers (RecordActions). */
  actions?: ReactNode
}

function invoiceNumberLabel(fields: FieldValues, authority: FieldValues): string {
  if (typeof authority.number === 'string' || typeof authority.number === 'number') return `No. ${authority.number}`
  return fields.status === 'draft' || fields.status === undefined ? 'Draft — numbered when sent' : 'Number pending'
}

export function RecordHeader({ collection, id, titleId, title, fields, authority, viewers, canDelete, actions }: RecordHeaderProps) {
  const toast = useToast()
  const labels = COLLECTION_LABELS[collection]
  const isInvoice = collection === 'invoices'

  function remove() {
    if (!confirm(`Delete “${title}”? It moves to the trash for everyone; you can undo or restore it.`)) return
    api('DELETE', `/api/records/${collection}/${id}`)
      .then(() => {
        // Like the list's bulk delete: the record is in the trash, and Undo brings it back here.
        toast(`${labels.singular} moved to the trash`, 'success', {
          action: {
            label: 'Undo',
            run: () =>
              void api('POST', `/api/records/${collection}/${id}/restore`)
                .then(() => {
                  toast(`${labels.singular} restored`, 'success', { href: `/${collection}/${id}` })
                  // Back to the record if still on the list the delete led to; elsewhere, the toast links to it.
                  if (location.pathname === `/${collection}`) navigate(`/${collection}/${id}`)
                })
                .catch((e: unknown) => toast(e instanceof ApiError ? e.message : 'Could not restore', 'error')),
          },
        })
        navigate(`/${collection}`)
      })
      .catch((e: unknown) => toast(e instanceof ApiError ? e.message : 'Could not delete', 'error'))
  }

  return (
    <div className="page-header">
      <BackToList collection={collection} />
      <h1 id={titleId} data-testid="record-title">
        {isInvoice && authority.number !== undefined ? `Invoice ${String(authority.number)}` : title}
      </h1>
      {isInvoice && (
        <span className="badge badge-number" data-testid="invoice-number">
          {invoiceNumberLabel(fields, authority)}
        </span>
      )}
      <div className="page-actions">
        {viewers}
        {actions}
        {canDelete && (
          <button type="button" className="button button-ghost" onClick={remove}>
            Delete
          </button>
        )}
      </div>
    </div>
  )
}

/** What the server refused, with the fields and reasons; stays until dismissed. */
export function NoticeBanner({ notices, onDismiss }: { notices: RejectedNotice[]; onDismiss(): void }) {
  if (notices.length === 0) return null
  return (
    <div className="notice notice-error" role="alert" data-testid="notices">
      <div>
        {notices.map((notice, i) => (
          <p key={i}>
            <strong>{REASONS[notice.reason]}:</strong>{' '}
            {notice.issues.map((issue) => `${fieldLabel(issue.path)} — ${issue.message}`).join('; ')}
          </p>
        ))}
      </div>
      <button type="button" className="button button-ghost button-small" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  )
}
