/** The record editor: typed fields, collaborative notes, line items, authority, notices and activity. */
import { useEffect, useId, useMemo } from 'react'
import { type Collection, fieldNames, HAS_ITEMS, type Reservation } from '../../../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, notesOf } from '../../../shared/docLayout.js'
import { recordDocName } from '../../../shared/docNames.js'
import { CLOSE, type ServerNotice } from '../../../shared/protocol.js'
import { useToast } from '../components/Toasts.js'
import { api, ApiError } from '../session/api.js'
import { FieldInput } from '../components/FieldInput.js'
import { LineItems } from '../components/LineItems.js'
import { NotesEditor } from '../components/NotesEditor.js'
import { viewersOf, Viewers } from '../components/Presence.js'
import { ReservationPanel } from '../components/ReservationPanel.js'
import { Timeline } from '../components/Timeline.js'
import { COLLECTION_LABELS, fieldLabel } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useClosedCode, useDocVersion, useDocument, useLoaded, useNotices } from '../sync/hooks.js'
import { useIndex } from '../sync/useIndex.js'
import { recordTitle } from '../../../shared/collections.js'

const REASONS: Record<ServerNotice['reason'], string> = {
  invalid: 'The server rejected an invalid value',
  authority: 'Only the server may change this',
  'read-only': 'You have read-only access; your change was undone',
  'server-only': 'Only the server may change this',
}

export default function RecordScreen({ collection, id }: { collection: Collection; id: string }) {
  const user = useUser()
  const users = useUsers()
  const labelId = useId()
  const connection = useDocument(recordDocName(user.workspace, collection, id))
  const loaded = useLoaded(connection)
  const closedCode = useClosedCode(connection)
  const toast = useToast()
  const version = useDocVersion(connection?.doc)
  const [notices, clearNotices] = useNotices(connection)
  const index = useIndex(user.workspace, collection)
  const customers = useIndex(user.workspace, 'customers').entries
  const deals = useIndex(user.workspace, 'deals').entries
  const readOnly = user.role === 'viewer'

  // Presence: tell everyone on this collection's list which record is open here.
  useEffect(() => {
    const awareness = index.connection?.provider.awareness
    if (!awareness) return
    awareness.setLocalStateField('viewing', id)
    return () => awareness.setLocalStateField('viewing', null)
  }, [index.connection, id])

  useEffect(() => {
    connection?.provider.awareness.setLocalStateField('user', { id: user.id, name: user.name, color: user.color })
  }, [connection, user])

  const doc = connection?.doc
  const fields = useMemo(() => (doc ? fieldsOf(doc).toJSON() : {}), [doc, version])
  const authority = useMemo(() => (doc ? authorityOf(doc).toJSON() : {}), [doc, version])
  const issueByField = useMemo(() => {
    const map = new Map<string, string>()
    for (const notice of notices) for (const issue of notice.issues) map.set(issue.path.split('.')[0]!, issue.message)
    return map
  }, [notices])

  if (closedCode === CLOSE.forbidden.code || closedCode === CLOSE.notFound.code) {
    return <p className="notice notice-error">{closedCode === CLOSE.forbidden.code ? 'You have no access to this record.' : 'There is no such record.'}</p>
  }
  if (!connection || !doc) return <div className="loading">Opening…</div>
  const labels = COLLECTION_LABELS[collection]
  const title = recordTitle(collection, fields)
  const deleted = typeof authority.deleted === 'string'
  const viewers = viewersOf(index.presence, id, index.connection?.doc.clientID)

  return (
    <article className="record" aria-labelledby={`${labelId}-title`}>
      <div className="page-header">
        <a
          className="back"
          href={`/${collection}`}
          onClick={(e) => {
            e.preventDefault()
            navigate(`/${collection}`)
          }}
        >
          ← {labels.plural}
        </a>
        <h1 id={`${labelId}-title`} data-testid="record-title">
          {collection === 'invoices' && authority.number !== undefined ? `Invoice ${String(authority.number)}` : title}
        </h1>
        {collection === 'invoices' && (
          <span className="badge badge-number" data-testid="invoice-number">
            {typeof authority.number === 'string' || typeof authority.number === 'number' ? `No. ${authority.number}` : fields.status === 'draft' || fields.status === undefined ? 'Draft — numbered when sent' : 'Number pending'}
          </span>
        )}
        <div className="page-actions">
          <Viewers viewers={viewers} />
          {!readOnly && !deleted && (
            <button
              type="button"
              className="button button-ghost"
              onClick={() => {
                if (!confirm(`Delete “${title}”? Everyone sees it disappear from the list.`)) return
                api('DELETE', `/api/records/${collection}/${id}`)
                  .then(() => {
                    toast(`${labels.singular} deleted`, 'success')
                    navigate(`/${collection}`)
                  })
                  .catch((e: unknown) => toast(e instanceof ApiError ? e.message : 'Could not delete', 'error'))
              }}
            >
              Delete
            </button>
          )}
        </div>
      </div>
      {!loaded && <p className="notice notice-info">Loading the latest version…</p>}
      {loaded && !deleted && Object.keys(fields).length === 0 && Object.keys(authority).length === 0 && <p className="notice notice-info">This record is empty or does not exist yet.</p>}
      {deleted && <p className="notice notice-error">This record was deleted.</p>}
      {readOnly && <p className="notice notice-info">You have read-only access to this workspace.</p>}
      {notices.length > 0 && (
        <div className="notice notice-error" role="alert" data-testid="notices">
          <div>
            {notices.map((notice, i) => (
              <p key={i}>
                <strong>{REASONS[notice.reason]}:</strong> {notice.issues.map((issue) => `${fieldLabel(issue.path)} — ${issue.message}`).join('; ')}
              </p>
            ))}
          </div>
          <button type="button" className="button button-ghost button-small" onClick={clearNotices}>
            Dismiss
          </button>
        </div>
      )}
      {collection === 'events' && (
        <ReservationPanel
          fields={fields}
          reservation={(authority.reservation as Reservation | undefined) ?? null}
          events={index.entries}
          readOnly={readOnly}
          onPick={(slot) =>
            doc.transact(() => {
              fieldsOf(doc).set('start', slot.start)
              fieldsOf(doc).set('end', slot.end)
            })
          }
        />
      )}
      <div className="record-grid">
        <div className="record-main">
          <section className="card" aria-label="Details">
            <div className="form-grid">
              {fieldNames(collection).map((field) => (
                <FieldInput
                  key={field}
                  collection={collection}
                  field={field}
                  value={fields[field]}
                  readOnly={readOnly}
                  users={users}
                  refs={{ customers, deals }}
                  serverIssue={issueByField.get(field)}
                  onChange={(value) => fieldsOf(doc).set(field, value)}
                />
              ))}
            </div>
          </section>
          {HAS_ITEMS[collection] && <LineItems items={itemsOf(doc)} version={version} readOnly={readOnly} />}
          <section className="card">
            <h2 id={`${labelId}-notes`}>Notes</h2>
            <NotesEditor text={notesOf(doc)} awareness={connection.provider.awareness} readOnly={readOnly} labelId={`${labelId}-notes`} />
          </section>
        </div>
        <aside className="record-side">
          <Timeline collection={collection} id={id} version={version} users={users} />
        </aside>
      </div>
    </article>
  )
}
