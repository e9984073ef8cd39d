/**
 * Tasks, live from the `tasks` index: ticking one marks it done (and back), each links to
 * its task page and to the record it is about. `TaskQuickAdd` adds one in place.
 */
import { type FormEvent, useEffect, useId, useState } from 'react'
import { parseRecordRef } from '../../../shared/collections.js'
import type { IndexEntry } from '../../../shared/docLayout.js'
import { type RefEntries, refTitle } from '../fieldDisplay.js'
import { COLLECTION_LABELS, formatDate } from '../fieldKinds.js'
import { api, ApiError, type User } from '../session/api.js'
import { RecordLink } from './RecordLink.js'
import { useToast } from './Toasts.js'

/** Open tasks first, by due date (undated last), then done ones. */
export function sortTasks(tasks: readonly IndexEntry[]): IndexEntry[] {
  const key = (t: IndexEntry) => `${t.fields.status === 'done' ? 1 : 0}${String(t.fields.dueDate || '9999-99-99')}${t.title}`
  return [...tasks].sort((a, b) => key(a).localeCompare(key(b)))
}

export function TaskList(props: {
  tasks: readonly IndexEntry[]
  users: readonly User[]
  refs: RefEntries
  readOnly: boolean
  /** Show what each task is about (off on the page of that record). */
  showAbout: boolean
}) {
  const toast = useToast()
  const today = new Date().toISOString().slice(0, 10)
  /** Ticks sent and not yet back in the index: the box shows them meanwhile. */
  const [pending, setPending] = useState<ReadonlyMap<string, boolean>>(new Map())
  const settle = (id: string) =>
    setPending((current) => {
      const next = new Map(current)
      next.delete(id)
      return next
    })
  // A tick is settled once the index says the same (or the task is gone from this list).
  useEffect(() => {
    const settled = [...pending].filter(([id, done]) => {
      const task = props.tasks.find((t) => t.id === id)
      return !task || (task.fields.status === 'done') === done
    })
    if (settled.length === 0) return
    setPending((current) => new Map([...current].filter(([id]) => !settled.some(([s]) => s === id))))
  }, [props.tasks, pending])
  const toggle = (task: IndexEntry, done: boolean) => {
    setPending((current) => new Map(current).set(task.id, done))
    api('PATCH', `/api/records/tasks/${task.id}`, { status: done ? 'done' : 'open' }).catch((e: unknown) => {
      settle(task.id)
      toast(e instanceof ApiError ? e.message : 'Could not change the task', 'error')
    })
  }
  if (props.tasks.length === 0) return <p className="cell-muted">No tasks.</p>
  return (
    <ul className="task-list">
      {sortTasks(props.tasks).map((task) => {
        const done = pending.get(task.id) ?? task.fields.status === 'done'
        const about = parseRecordRef(task.fields.about)
        const due = typeof task.fields.dueDate === 'string' ? task.fields.dueDate : ''
        const assignee = props.users.find((u) => u.id === task.fields.assigneeId)
        return (
          <li key={task.id} className={done ? 'task task-done' : 'task'} data-task-id={task.id}>
            <input
              type="checkbox"
              checked={done}
              disabled={props.readOnly}
              aria-label={`Done: ${task.title}`}
              onChange={(e) => toggle(task, e.target.checked)}
            />
            <RecordLink collection="tasks" id={task.id} className="task-title">
              {task.title}
            </RecordLink>
            {due && <span className={!done && due < today ? 'task-due task-overdue' : 'task-due'}>{formatDate(due)}</span>}
            {assignee && <span className="cell-muted">{assignee.name}</span>}
            {props.showAbout && about && (
              <span className="cell-muted">
                {COLLECTION_LABELS[about.collection].singular}:{' '}
                <RecordLink collection={about.collection} id={about.id}>
                  {refTitle(props.refs, about.collection, about.id)}
                </RecordLink>
              </span>
            )}
          </li>
        )
      })}
    </ul>
  )
}

/** A one-line form adding a task about `about` (`<collection>/<id>`), for `me` unless someone else is picked. */
export function TaskQuickAdd({ about, users, me }: { about: string; users: readonly User[]; me: User }) {
  const id = useId()
  const toast = useToast()
  const [title, setTitle] = useState('')
  const [dueDate, setDueDate] = useState('')
  const [assigneeId, setAssigneeId] = useState(me.id)
  const [busy, setBusy] = useState(false)
  async function submit(event: FormEvent) {
    event.preventDefault()
    if (!title.trim()) return
    setBusy(true)
    try {
      await api('POST', '/api/records/tasks', { title: title.trim(), about, assigneeId, ...(dueDate ? { dueDate } : {}) })
      setTitle('')
      setDueDate('')
    } catch (e) {
      toast(e instanceof ApiError ? e.message : 'Could not add the task', 'error')
    } finally {
      setBusy(false)
    }
  }
  return (
    <form className="task-add" onSubmit={submit} aria-label="Add a task">
      <label className="visually-hidden" htmlFor={`${id}-title`}>
        New task
      </label>
      <input id={`${id}-title`} name="task-title" placeholder="New task…" value={title} onChange={(e) => setTitle(e.target.value)} />
      <label className="visually-hidden" htmlFor={`${id}-due`}>
        Due date
      </label>
      <input id={`${id}-due`} name="task-due" type="date" value={dueDate} onChange={(e) => setDueDate(e.target.value)} />
      <label className="visually-hidden" htmlFor={`${id}-assignee`}>
        Assignee
      </label>
      <select id={`${id}-assignee`} name="task-assignee" value={assigneeId} onChange={(e) => setAssigneeId(e.target.value)}>
        {users.map((u) => (
          <option key={u.id} value={u.id}>
            {u.name}
          </option>
        ))}
      </select>
      <button type="submit" className="button button-small" disabled={busy || !title.trim()}>
        Add task
      </button>
    </form>
  )
}
