/**
 * The record editor: typed fields, collaborative notes, line items, authority, notices and
 * activity; the records linked to this one and its tasks, live; the sales steps it offers.
 */
import { useEffect, useId, useMemo } from 'react'
import { type Collection, fieldNames, HAS_ITEMS, type Reservation } from '../../../shared/collections.js'
import { authorityOf, fieldsOf, itemsOf, notesOf, readFields } from '../../../shared/docLayout.js'
import { isTextField, textOf } from '../../../shared/textFields.js'
import { recordDocName } from '../../../shared/docNames.js'
import { CLOSE } from '../../../shared/protocol.js'
import { NoticeBanner, RecordHeader } from '../components/RecordHeader.js'
import { ConflictNote } from '../components/ConflictNote.js'
import { FieldInput } from '../components/FieldInput.js'
import { LineItems } from '../components/LineItems.js'
import { NotesEditor } from '../components/NotesEditor.js'
import { TextFieldInput } from '../components/TextFieldInput.js'
import { viewersOf, Viewers } from '../components/Presence.js'
import { ReservationPanel } from '../components/ReservationPanel.js'
import { RoomSelect } from '../components/RoomSelect.js'
import { Timeline } from '../components/Timeline.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useTimeZone } from '../timeZone.js'
import { displayValue } from '../fieldDisplay.js'
import { COLLECTION_LABELS, fieldLabel, isStepField } from '../fieldKinds.js'
import { api, ApiError } from '../session/api.js'
import { useToast } from '../components/Toasts.js'
import { isCurrent } from '../sync/ConflictMarkers.js'
import { useClosedCode, useConflicts, useDocVersion, useDocument, useLoaded, useNotices } from '../sync/hooks.js'
import { useIndex } from '../sync/useIndex.js'
import { useRecordUndo } from '../sync/useRecordUndo.js'
import { useRefs } from '../sync/useRefs.js'
import { recordTitle } from '../../../shared/collections.js'
import { LinkedRecords } from '../components/LinkedRecords.js'
import { RecordActions } from '../components/RecordActions.js'
import { TaskList, TaskQuickAdd } from '../components/TaskList.js'
import '../records.css'

export default function RecordScreen({ collection, id }: { collection: Collection; id: string }) {
  const user = useUser()
  // Event times read and typed on the calendar's zone, so the page and the calendar never disagree.
  const [timeZone] = useTimeZone(user.id)
  const toast = useToast()
  const users = useUsers()
  const labelId = useId()
  const connection = useDocument(recordDocName(user.workspace, collection, id))
  const loaded = useLoaded(connection)
  const closedCode = useClosedCode(connection)
  const version = useDocVersion(connection?.doc)
  const [notices, clearNotices] = useNotices(connection)
  const conflicts = useConflicts(connection)
  const index = useIndex(user.workspace, collection)
  const refs = useRefs(user.workspace)
  const viewer = user.role === 'viewer'
  const undo = useRecordUndo(connection, collection, viewer)

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
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const fields = useMemo(() => (doc ? readFields(doc, collection) : {}), [doc, collection, version])
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is the document's change counter: it is there to recompute
  const authority = useMemo(() => (doc ? authorityOf(doc).toJSON() : {}), [doc, version])
  const issueByField = useMemo(() => {
    const map = new Map<string, string>()
    for (const notice of notices) for (const issue of notice.issues) map.set(issue.path.split('.')[0]!, issue.message)
    return map
  }, [notices])

  if (closedCode === CLOSE.forbidden.code || closedCode === CLOSE.notFound.code) {
    return (
      <p className="notice notice-error">
        {closedCode === CLOSE.forbidden.code ? 'You have no access to this record.' : 'There is no such record.'}
      </p>
    )
  }
  if (!connection || !doc) return <div className="loading">Opening…</div>
  const title = recordTitle(collection, fields)
  const show = (field: string, value: unknown) => displayValue(field, value, { users, refs })
  const deleted = typeof authority.deleted === 'string'
  // A deleted record takes no edits: they would be saved into a record nobody sees.
  const readOnly = viewer || deleted
  const deletedBy = authority.deletedBy === user.id ? 'you' : (users.find((u) => u.id === authority.deletedBy)?.name ?? 'someone')
  const restore = () =>
    api('POST', `/api/records/${collection}/${id}/restore`)
      .then(() => toast(`${COLLECTION_LABELS[collection].singular} restored`, 'success'))
      .catch((e: unknown) => toast(e instanceof ApiError ? e.message : 'Could not restore', 'error'))
  const viewers = viewersOf(index.presence, id, index.connection?.doc.clientID)
  const tasks = (refs.tasks ?? []).filter((t) => t.fields.about === `${collection}/${id}`)

  return (
    <article className="record" aria-labelledby={`${labelId}-title`} onKeyDownCapture={undo.onKeyDownCapture}>
      <RecordHeader
        collection={collection}
        id={id}
        titleId={`${labelId}-title`}
        title={title}
        fields={fields}
        authority={authority}
        viewers={<Viewers viewers={viewers} />}
        canDelete={!readOnly}
        actions={<RecordActions collection={collection} id={id} fields={fields} canWrite={!readOnly} />}
      />
      {!loaded && <p className="notice notice-info">Loading the latest version…</p>}
      {loaded && !deleted && Object.keys(fields).length === 0 && Object.keys(authority).length === 0 && (
        <p className="notice notice-info">This record is empty or does not exist yet.</p>
      )}
      {deleted && (
        <p className="notice notice-error" data-testid="deleted-notice">
          Deleted by {deletedBy}
          {!viewer && (
            <>
              {' — '}
              <button type="button" className="button button-small" onClick={restore}>
                Restore
              </button>
            </>
          )}
        </p>
      )}
      {viewer && <p className="notice notice-info">You have read-only access to this workspace.</p>}
      <NoticeBanner notices={notices} onDismiss={clearNotices} />
      {collection === 'events' && (
        <ReservationPanel
          fields={fields}
          reservation={(authority.reservation as Reservation | undefined) ?? null}
          events={index.entries}
          readOnly={readOnly}
          eventId={id}
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
              {fieldNames(collection)
                .filter((field) => !isStepField(collection, field) || fields[field] !== undefined)
                .map((field) => {
                  if (collection === 'events' && field === 'room') {
                    const room = typeof fields.room === 'string' ? fields.room : ''
                    return (
                      <RoomSelect
                        key={field}
                        text={textOf(doc, field)}
                        value={room}
                        readOnly={readOnly}
                        events={index.entries}
                        serverIssue={issueByField.get(field)}
                      />
                    )
                  }
                  if (isTextField(collection, field)) {
                    return (
                      <TextFieldInput
                        key={field}
                        collection={collection}
                        field={field}
                        text={textOf(doc, field)}
                        readOnly={readOnly}
                        serverIssue={issueByField.get(field)}
                      />
                    )
                  }
                  const conflict = conflicts.get(field)
                  return (
                    <FieldInput
                      key={field}
                      collection={collection}
                      field={field}
                      value={fields[field]}
                      readOnly={readOnly}
                      users={users}
                      refs={refs}
                      serverIssue={issueByField.get(field)}
                      timeZone={timeZone}
                      onChange={(value) => (value === undefined ? fieldsOf(doc).delete(field) : fieldsOf(doc).set(field, value))}
                      conflict={
                        conflict &&
                        isCurrent(conflict, fields[field]) && (
                          <ConflictNote
                            marker={conflict}
                            label={fieldLabel(field)}
                            show={(value) => show(field, value)}
                            readOnly={readOnly}
                            onSet={(value) => fieldsOf(doc).set(field, value)}
                            onDismiss={() => connection.conflicts?.dismiss(field)}
                          />
                        )
                      }
                    />
                  )
                })}
            </div>
          </section>
          {HAS_ITEMS[collection] && (
            <LineItems
              items={itemsOf(doc)}
              version={version}
              readOnly={readOnly}
              currency={typeof fields.currency === 'string' ? fields.currency : undefined}
              taxRate={typeof fields.taxRate === 'number' ? fields.taxRate : undefined}
            />
          )}
          <section className="card">
            <h2 id={`${labelId}-notes`}>Notes</h2>
            <NotesEditor
              text={notesOf(doc)}
              awareness={connection.provider.awareness}
              userId={user.id}
              users={users}
              readOnly={readOnly}
              labelId={`${labelId}-notes`}
            />
          </section>
        </div>
        <aside className="record-side">
          <LinkedRecords collection={collection} id={id} refs={refs} canCreate={!readOnly} timeZone={timeZone} />
          {collection !== 'tasks' && (
            <section className="card" aria-labelledby={`${labelId}-tasks`} data-testid="record-tasks">
              <h2 id={`${labelId}-tasks`}>Tasks</h2>
              <TaskList tasks={tasks} users={users} refs={refs} readOnly={readOnly} showAbout={false} />
              {!readOnly && <TaskQuickAdd about={`${collection}/${id}`} users={users} me={user} />}
            </section>
          )}
          <Timeline collection={collection} id={id} version={version} users={users} fields={fields} authority={authority} show={show} />
        </aside>
      </div>
    </article>
  )
}
