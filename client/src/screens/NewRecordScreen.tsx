/**
 * Creating a record: a form with the collection's required fields first, then the others
 * (prefilled from the query string, `/deals/new?customerId=…`). Nothing exists until Save
 * sends it whole to the server; leaving the form leaves nothing behind. New events open
 * the booking dialog over the events list instead.
 */
import { type FormEvent, useId, useMemo, useState } from 'react'
import {
  type Collection,
  FIELD_DEFAULTS,
  type FieldValues,
  fieldNames,
  missingRequired,
  REQUIRED_FIELDS,
} from '../../../shared/collections.js'
import { EventDialog } from '../components/EventDialog.js'
import { FieldInput } from '../components/FieldInput.js'
import { BackToList } from '../components/RecordLink.js'
import { useToast } from '../components/Toasts.js'
import { COLLECTION_LABELS, fieldLabel, isStepField } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, ApiError } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useIndex } from '../sync/useIndex.js'
import { useRefs } from '../sync/useRefs.js'
import { ListScreen } from './ListScreen.js'
import '../records.css'
import { useTimeZone } from '../timeZone.js'

/** The values the query string gives for fields of `collection`. */
function prefill(collection: Collection, search: string): FieldValues {
  const params = new URLSearchParams(search)
  const names = fieldNames(collection)
  return Object.fromEntries([...params].filter(([name, value]) => names.includes(name) && value !== ''))
}

/** The next full hour, for an hour: where a new event starts. */
function nextHour(now = new Date()): { start: string; end: string } {
  const start = new Date(now)
  start.setMinutes(0, 0, 0)
  start.setHours(start.getHours() + 1)
  return { start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString() }
}

export default function NewRecordScreen({ collection }: { collection: Collection }) {
  const user = useUser()
  // The server refuses a viewer's records: no form, no booking dialog, just the way back.
  if (user.role === 'viewer') return <ViewerCannotCreate collection={collection} />
  return collection === 'events' ? <NewEvent /> : <NewRecordForm collection={collection} />
}

function ViewerCannotCreate({ collection }: { collection: Collection }) {
  return (
    <section className="new-record" data-testid="viewer-cannot-create">
      <div className="page-header">
        <BackToList collection={collection} />
      </div>
      <p className="notice notice-info">
        You have read-only access to this workspace, so you can't add {COLLECTION_LABELS[collection].plural.toLowerCase()}.
      </p>
    </section>
  )
}

function NewEvent() {
  const user = useUser()
  const users = useUsers()
  const events = useIndex(user.workspace, 'events').entries
  const slot = useMemo(() => nextHour(), [])
  const [timeZone] = useTimeZone(user.id)
  return (
    <>
      <ListScreen collection="events" />
      <EventDialog slot={slot} users={users} me={user} events={events} timeZone={timeZone} onClose={() => navigate('/events')} />
    </>
  )
}

function NewRecordForm({ collection }: { collection: Collection }) {
  const user = useUser()
  const users = useUsers()
  const refs = useRefs(user.workspace)
  const toast = useToast()
  const titleId = useId()
  const labels = COLLECTION_LABELS[collection]
  const [values, setValues] = useState<FieldValues>(() => ({
    ...FIELD_DEFAULTS[collection],
    ...(collection === 'tasks' ? { assigneeId: user.id } : {}),
    ...prefill(collection, location.search),
  }))
  const [notes, setNotes] = useState('')
  const [issues, setIssues] = useState<Map<string, string>>(new Map())
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const required = REQUIRED_FIELDS[collection]
  const optional = fieldNames(collection).filter((f) => !required.includes(f) && !isStepField(collection, f))

  async function save(event: FormEvent) {
    event.preventDefault()
    const missing = missingRequired(collection, values)
    if (missing.length > 0) {
      setIssues(new Map(missing.map((f) => [f, `${fieldLabel(f)} is required`])))
      return
    }
    setBusy(true)
    setError(null)
    try {
      const record = await api<{ id: string }>('POST', `/api/records/${collection}`, { ...values, ...(notes ? { notes } : {}) })
      toast(`${labels.singular} created`, 'success')
      navigate(`/${collection}/${record.id}`)
    } catch (e) {
      if (e instanceof ApiError && e.issues.length > 0) setIssues(new Map(e.issues.map((i) => [i.path.split('.')[0]!, i.message])))
      setError(e instanceof ApiError ? e.message : 'Could not reach the server; nothing was created')
    } finally {
      setBusy(false)
    }
  }

  const input = (field: string) => (
    <FieldInput
      key={field}
      collection={collection}
      field={field}
      value={values[field]}
      readOnly={false}
      users={users}
      refs={refs}
      serverIssue={issues.get(field)}
      onChange={(value) => {
        setValues((current) => {
          const next = { ...current }
          if (value === undefined) delete next[field]
          else next[field] = value
          return next
        })
        setIssues((current) => {
          const next = new Map(current)
          next.delete(field)
          return next
        })
      }}
    />
  )

  return (
    <form className="record new-record" aria-labelledby={titleId} onSubmit={save} noValidate>
      <div className="page-header">
        <BackToList collection={collection} />
        <h1 id={titleId}>New {labels.singular.toLowerCase()}</h1>
      </div>
      {required.length > 0 && (
        <section className="card" aria-label="Required">
          <h2>Required</h2>
          <div className="form-grid">{required.map(input)}</div>
        </section>
      )}
      <section className="card" aria-label="Details">
        <h2>{required.length > 0 ? 'More details (optional)' : 'Details (optional)'}</h2>
        <div className="form-grid">{optional.map(input)}</div>
      </section>
      <section className="card">
        <label className="new-notes">
          Notes
          <textarea name="notes" rows={4} value={notes} onChange={(e) => setNotes(e.target.value)} />
        </label>
      </section>
      {error && (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="button" className="button button-ghost" onClick={() => navigate(`/${collection}`)}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={busy}>
          Create {labels.singular.toLowerCase()}
        </button>
      </div>
    </form>
  )
}
