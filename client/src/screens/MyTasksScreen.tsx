/** The signed-in user's tasks, live: open ones by due date first, each linked to what it is about. */
import { useState } from 'react'
import { TaskList } from '../components/TaskList.js'
import { navigate } from '../router.js'
import { useUser } from '../session/SessionProvider.js'
import { useUsers } from '../session/useUsers.js'
import { useRefs } from '../sync/useRefs.js'
import '../records.css'

export default function MyTasksScreen() {
  const user = useUser()
  const users = useUsers()
  const refs = useRefs(user.workspace)
  const [showDone, setShowDone] = useState(false)
  const mine = (refs.tasks ?? []).filter((t) => t.fields.assigneeId === user.id)
  const open = mine.filter((t) => t.fields.status !== 'done')
  const shown = showDone ? mine : open
  return (
    <section aria-labelledby="my-tasks-title" data-testid="my-tasks">
      <div className="page-header">
        <h1 id="my-tasks-title">My tasks</h1>
        <span className="count">{open.length}</span>
        <div className="page-actions">
          <label className="check">
            <input type="checkbox" checked={showDone} onChange={(e) => setShowDone(e.target.checked)} />
            Show done
          </label>
          {user.role !== 'viewer' && (
            <button type="button" className="button button-primary" onClick={() => navigate('/tasks/new')}>
              New task
            </button>
          )}
        </div>
      </div>
      <div className="card">
        <TaskList tasks={shown} users={users} refs={refs} readOnly={user.role === 'viewer'} showAbout />
      </div>
    </section>
  )
}
