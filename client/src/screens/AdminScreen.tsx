/**
 * The admin console, for owners and admins: live figures from `GET /api/admin/overview` (the
 * same numbers Prometheus scrapes), the busiest documents, and the workspace's people (add,
 * change a role, deactivate, end a session). Anyone else gets a page saying they may not.
 */
import { Badge } from '../components/Badge.js'
import { useCallback, useEffect, useState } from 'react'
import type { OverviewPoint } from '../../../shared/overview.js'
import { timeAgo } from '../fieldKinds.js'
import { retryText, targetLabel } from '../jobWords.js'
import { useUsers } from '../session/useUsers.js'
import type { Job } from '../sync/useInbox.js'
import { api, ApiError, type User } from '../session/api.js'
import { useUser } from '../session/SessionProvider.js'
import { SeriesChart } from '../components/SeriesChart.js'
import { useToast } from '../components/Toasts.js'

/** How often the figures are read again. */
const REFRESH_MS = 5000
const ROLES = ['owner', 'admin', 'member', 'viewer'] as const

interface Overview {
  node: string | null
  at: number
  connections: number
  usersOnline: number
  loadedDocuments: number
  updatesIn: number
  updatesPerSecond: number
  commitSeconds: { count: number; p50: number | null; p99: number | null }
  reverts: Record<string, number>
  overwrites: Record<string, number>
  bookings: Record<string, number>
  signIns: Record<string, number>
  jobs: {
    queued: number
    running: number
    entered: Record<string, number>
    retries: { target: string; reason: string; count: number }[]
  }
  eventLoopDelayP99Seconds: number
  memory: { residentBytes: number; heapUsedBytes: number }
  http: { method: string; route: string; count: number; errors: number; p50Seconds: number | null; p99Seconds: number | null }[]
  busiestDocuments: { doc: string; sockets: number; users: { id: string; name: string }[] }[]
  sampleEveryMs: number
  series: OverviewPoint[]
}

interface AdminUser extends User {
  deactivatedAt: number | null
}

interface Session {
  id: string
  userId: string
  createdAt: number
  expiresAt: number
}

export function mayAdminister(role: User['role']): boolean {
  return role === 'owner' || role === 'admin'
}

export default function AdminScreen() {
  const user = useUser()
  if (!mayAdminister(user.role)) return <NotAllowed />
  return (
    <div className="admin">
      <div className="page-header">
        <h1>Admin</h1>
        <p className="hint">Live health of this server and the people of {user.workspace}.</p>
      </div>
      <Figures />
      <JobQueue />
      <People />
    </div>
  )
}

function NotAllowed() {
  return (
    <div className="card not-allowed" data-testid="not-allowed">
      <h1>Not allowed</h1>
      <p>The admin console is for the workspace's owners and admins. Ask one of them if you need something changed.</p>
    </div>
  )
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0)
const ms = (seconds: number | null) => (seconds === null ? '—' : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`)
const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`

function Figures() {
  const [overview, setOverview] = useState<Overview | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    let stopped = false
    const read = () =>
      api<Overview>('GET', '/api/admin/overview').then(
        (next) => {
          if (stopped) return
          setOverview(next)
          setError(null)
        },
        (e: unknown) => !stopped && setError(e instanceof Error ? e.message : String(e)),
      )
    void read()
    const timer = setInterval(read, REFRESH_MS)
    return () => {
      stopped = true
      clearInterval(timer)
    }
  }, [])
  if (error && !overview) return <div className="notice notice-error">{error}</div>
  if (!overview) return <div className="loading">Loading figures…</div>
  const o = overview
  const tiles: [string, string, string][] = [
    ['connections', 'Open connections', String(o.connections)],
    ['users-online', 'Users online', String(o.usersOnline)],
    ['loaded-documents', 'Loaded documents', String(o.loadedDocuments)],
    ['updates', 'Updates / s', o.updatesPerSecond.toFixed(1)],
    ['commit', 'Commit p50 / p99', `${ms(o.commitSeconds.p50)} / ${ms(o.commitSeconds.p99)}`],
    ['reverts', 'Reverts', String(sum(o.reverts))],
    ['overwrites', 'Overwrites', String(sum(o.overwrites))],
    ['bookings', 'Bookings (conflicts)', `${o.bookings.confirmed ?? 0} (${o.bookings.conflict ?? 0})`],
    ['sign-ins', 'Sign-ins refused (throttled)', `${o.signIns.credentials ?? 0} (${o.signIns.throttled ?? 0})`],
    ['jobs', 'Jobs queued / running', `${o.jobs.queued} / ${o.jobs.running}`],
    ['event-loop', 'Event-loop delay p99', ms(o.eventLoopDelayP99Seconds)],
    ['memory', 'Memory (heap)', `${mib(o.memory.residentBytes)} (${mib(o.memory.heapUsedBytes)})`],
  ]
  return (
    <section aria-labelledby="figures-title" className="admin-section">
      <h2 id="figures-title">
        Now{o.node ? ` on ${o.node}` : ''} <small className="cell-muted">since start · updated {new Date(o.at).toLocaleTimeString()}</small>
      </h2>
      {error && <div className="notice notice-error">{error}</div>}
      <dl className="stat-grid">
        {tiles.map(([key, label, value]) => (
          <div key={key} className="stat" data-testid={`stat-${key}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <Charts overview={o} />
      <div className="admin-columns">
        <Breakdown title="Reverts by reason" counts={o.reverts} />
        <Breakdown title="Jobs entering each status" counts={o.jobs.entered} />
        <CountTable
          label="Job retries"
          heads={['Retries: target', 'Reason']}
          rows={o.jobs.retries.map((r) => [r.target, r.reason, r.count])}
          empty="No retries."
        />
      </div>
      <h2>Busiest documents</h2>
      <div className="table-wrap">
        <table className="table" aria-label="Busiest documents">
          <thead>
            <tr>
              <th>Document</th>
              <th className="num">Sockets</th>
              <th>Who is in it</th>
            </tr>
          </thead>
          <tbody>
            {o.busiestDocuments.map((d) => (
              <tr key={d.doc}>
                <td>
                  <code>{d.doc}</code>
                </td>
                <td className="num">{d.sockets}</td>
                <td>{d.users.map((u) => u.name).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {o.busiestDocuments.length === 0 && <p className="empty">Nobody is connected.</p>}
      </div>
      <h2>HTTP latency by route</h2>
      <div className="table-wrap">
        <table className="table" aria-label="HTTP latency by route">
          <thead>
            <tr>
              <th>Route</th>
              <th className="num">Requests</th>
              <th className="num">5xx</th>
              <th className="num">p50</th>
              <th className="num">p99</th>
            </tr>
          </thead>
          <tbody>
            {o.http.slice(0, 15).map((r) => (
              <tr key={`${r.method} ${r.route}`}>
                <td>
                  <code>
                    {r.method} {r.route}
                  </code>
                </td>
                <td className="num">{r.count}</td>
                <td className="num">{r.errors}</td>
                <td className="num">{ms(r.p50Seconds)}</td>
                <td className="num">{ms(r.p99Seconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

const COLORS = { first: '#4f46e5', second: '#e11d48', third: '#0891b2', ok: '#15803d', warn: '#b45309' }
const count = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1))

/** The last hour, one chart per concern; each point is one sample step of the server. */
function Charts({ overview }: { overview: Overview }) {
  const points = overview.series
  const at = points.map((p) => p.at)
  const line = (label: string, color: string, pick: (p: OverviewPoint) => number | null) => ({
    label,
    color,
    values: points.map(pick),
  })
  const msOf = (s: number | null) => (s === null ? null : s * 1000)
  const charts = [
    { name: 'updates', title: 'Updates / s', format: count, lines: [line('updates/s', COLORS.first, (p) => p.updatesPerSecond)] },
    {
      name: 'commit',
      title: 'Commit latency',
      format: (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`,
      lines: [line('p50', COLORS.first, (p) => msOf(p.commitP50Seconds)), line('p99', COLORS.second, (p) => msOf(p.commitP99Seconds))],
    },
    {
      name: 'connections',
      title: 'Connections and users online',
      format: count,
      lines: [line('connections', COLORS.first, (p) => p.connections), line('users', COLORS.third, (p) => p.usersOnline)],
    },
    {
      name: 'reverts',
      title: 'Reverts and overwrites (per step)',
      format: count,
      lines: [line('reverts', COLORS.second, (p) => p.reverts), line('overwrites', COLORS.first, (p) => p.overwrites)],
    },
    {
      name: 'jobs',
      title: 'Jobs (queued and running now; ended and retried per step)',
      format: count,
      lines: [
        line('queued', COLORS.first, (p) => p.jobsQueued),
        line('running', COLORS.third, (p) => p.jobsRunning),
        line('succeeded', COLORS.ok, (p) => p.jobsSucceeded),
        line('failed', COLORS.second, (p) => p.jobsFailed),
        line('retries', COLORS.warn, (p) => p.jobRetries),
      ],
    },
    {
      name: 'event-loop',
      title: 'Event-loop delay p99',
      format: (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`,
      lines: [line('p99', COLORS.first, (p) => p.eventLoopDelayP99Seconds * 1000)],
    },
    {
      name: 'memory',
      title: 'Memory',
      format: (v: number) => `${Math.round(v)} MiB`,
      lines: [
        line('resident', COLORS.first, (p) => p.residentMemoryBytes / 2 ** 20),
        line('heap', COLORS.third, (p) => p.heapUsedBytes / 2 ** 20),
      ],
    },
  ]
  return (
    <>
      <h2>
        Last hour{' '}
        <small className="cell-muted">
          a point every {Math.round(overview.sampleEveryMs / 1000)} s{points.length < 2 ? ' — collecting…' : ''}
        </small>
      </h2>
      <div className="chart-grid">
        {charts.map((chart) => (
          <SeriesChart key={chart.name} at={at} {...chart} />
        ))}
      </div>
    </>
  )
}

function Breakdown({ title, counts }: { title: string; counts: Record<string, number> }) {
  return <CountTable label={title} heads={[title]} rows={Object.entries(counts)} />
}

/** A small table whose last column is a count. */
function CountTable(props: { label: string; heads: string[]; rows: (string | number)[][]; empty?: string }) {
  return (
    <div className="table-wrap">
      <table className="table" aria-label={props.label}>
        <thead>
          <tr>
            {props.heads.map((head) => (
              <th key={head}>{head}</th>
            ))}
            <th className="num">Count</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={row.slice(0, -1).join('/')}>
              {row.map((cell, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a cell's place is its column
                <td key={i} className={i === row.length - 1 ? 'num' : undefined}>
                  {cell}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {props.rows.length === 0 && props.empty && <p className="empty">{props.empty}</p>}
    </div>
  )
}

type AdminJob = Job & { userId: string }

/** What an admin may do with a job in each state; the server checks again (409 otherwise). */
const JOB_ACTIONS: { action: 'retry' | 'cancel' | 'rerun'; label: string; when: (job: AdminJob) => boolean }[] = [
  { action: 'retry', label: 'Retry', when: (job) => job.status === 'failed' && job.kind === 'export' },
  { action: 'cancel', label: 'Cancel', when: (job) => job.status === 'queued' || job.status === 'running' },
  { action: 'rerun', label: 'Re-run', when: (job) => job.status === 'succeeded' && job.kind === 'export' },
]

/** The workspace's job queue, read again with the figures; retry, cancel and re-run from the table. */
function JobQueue() {
  const toast = useToast()
  const users = useUsers()
  const [jobs, setJobs] = useState<AdminJob[] | null>(null)
  const reload = useCallback(() => api<{ items: AdminJob[] }>('GET', '/api/admin/jobs').then(({ items }) => setJobs(items)), [])
  useEffect(() => {
    void reload()
    const timer = setInterval(() => void reload().catch(() => undefined), REFRESH_MS)
    return () => clearInterval(timer)
  }, [reload])
  const nameOf = (id: string) => users.find((u) => u.id === id)?.name ?? id
  const act = async (job: AdminJob, action: string, label: string) => {
    try {
      await api('POST', `/api/admin/jobs/${job.id}/${action}`)
      toast(`${label}: ${targetLabel(job.target)} ${job.kind} of ${nameOf(job.userId)}`, 'success')
    } catch (error) {
      toast(error instanceof ApiError ? error.message : String(error), 'error')
    }
    await reload()
  }
  const now = Date.now()
  return (
    <section aria-labelledby="jobs-title" className="admin-section">
      <h2 id="jobs-title">Job queue</h2>
      <div className="table-wrap">
        <table className="table" aria-label="Job queue">
          <HeadWithActions heads={['Job', 'User', 'Status', 'Created']} />
          <tbody>
            {jobs?.map((job) => (
              <tr key={job.id} data-testid={`job-${job.id}`}>
                <td>
                  {targetLabel(job.target)} {job.kind}
                </td>
                <td>{nameOf(job.userId)}</td>
                <td>
                  <Badge value={job.status} />
                  {job.position !== undefined && <span className="cell-muted"> · #{job.position}</span>}
                  {job.retry && <span className="cell-muted"> · {retryText(job.retry, now)}</span>}
                  {job.error && <span className="cell-muted"> · {job.error}</span>}
                </td>
                <td>{timeAgo(job.createdAt)}</td>
                <td className="actions">
                  {JOB_ACTIONS.filter((a) => a.when(job)).map((a) => (
                    <button key={a.action} type="button" className="button button-small" onClick={() => void act(job, a.action, a.label)}>
                      {a.label}
                    </button>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {jobs?.length === 0 && <p className="empty">No jobs.</p>}
      </div>
    </section>
  )
}

/** A table's head whose last column holds each row's buttons. */
function HeadWithActions({ heads }: { heads: string[] }) {
  return (
    <thead>
      <tr>
        {heads.map((head) => (
          <th key={head}>{head}</th>
        ))}
        <th>
          <span className="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  )
}

/**
 * Creates a one-time invite link (a role, and an e-mail if it must be that one) and shows it
 * to copy: the token is shown this once, the server keeps only its hash.
 */
function InviteForm() {
  const me = useUser()
  const [form, setForm] = useState({ role: 'member', email: '' })
  const [link, setLink] = useState<{ url: string; role: string; expiresAt: number } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  return (
    <form
      className="card admin-add"
      aria-label="Invite a user"
      onSubmit={async (event) => {
        event.preventDefault()
        try {
          const invite = await api<{ path: string; role: string; expiresAt: number }>('POST', '/api/admin/invites', {
            role: form.role,
            ...(form.email ? { email: form.email } : {}),
          })
          setLink({ url: new URL(invite.path, location.origin).href, role: invite.role, expiresAt: invite.expiresAt })
          setCopied(false)
          setError(null)
        } catch (e) {
          setError(e instanceof ApiError ? e.message : String(e))
        }
      }}
    >
      <label>
        E-mail (optional)
        <input type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
      </label>
      <label>
        Role
        <select aria-label="Role of the invited user" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
          {ROLES.filter((r) => r !== 'owner' || me.role === 'owner').map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </label>
      <button type="submit" className="button">
        Invite
      </button>
      {error && (
        <p className="field-issue" role="alert">
          {error}
        </p>
      )}
      {link && (
        <div className="invite-link" role="status">
          <label>
            One-time link for a {link.role}, until {new Date(link.expiresAt).toLocaleDateString()}
            <input readOnly value={link.url} data-testid="invite-link" onFocus={(e) => e.target.select()} />
          </label>
          <button
            type="button"
            className="button button-small"
            onClick={() =>
              navigator.clipboard.writeText(link.url).then(
                () => setCopied(true),
                () => setCopied(false),
              )
            }
          >
            {copied ? 'Copied' : 'Copy link'}
          </button>
        </div>
      )}
    </form>
  )
}

function People() {
  const me = useUser()
  const toast = useToast()
  const [users, setUsers] = useState<AdminUser[] | null>(null)
  const [sessions, setSessions] = useState<{ userId: string; items: Session[] } | null>(null)
  const [form, setForm] = useState({ email: '', name: '', role: 'member', password: '' })
  const [formError, setFormError] = useState<string | null>(null)

  const reload = useCallback(() => api<{ items: AdminUser[] }>('GET', '/api/admin/users').then(({ items }) => setUsers(items)), [])
  useEffect(() => {
    void reload()
  }, [reload])

  /** Runs a change, then reads the users again; a refusal is shown as a toast. */
  const act = async (what: string, change: () => Promise<unknown>) => {
    try {
      await change()
      toast(what, 'success')
    } catch (error) {
      toast(error instanceof ApiError ? error.message : String(error), 'error')
    }
    await reload()
  }

  const showSessions = async (userId: string) =>
    setSessions({ userId, items: (await api<{ items: Session[] }>('GET', `/api/admin/users/${userId}/sessions`)).items })

  return (
    <section aria-labelledby="people-title" className="admin-section">
      <h2 id="people-title">People</h2>
      <form
        className="card admin-add"
        aria-label="Add a user"
        onSubmit={async (event) => {
          event.preventDefault()
          try {
            await api('POST', '/api/admin/users', { ...form, name: form.name || undefined })
            setForm({ email: '', name: '', role: 'member', password: '' })
            setFormError(null)
            toast(`${form.email} added`, 'success')
            await reload()
          } catch (error) {
            setFormError(error instanceof ApiError ? error.message : String(error))
          }
        }}
      >
        <label>
          E-mail
          <input type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
        </label>
        <label>
          Name
          <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        </label>
        <label>
          Role
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Initial password
          <input
            type="password"
            required
            minLength={8}
            autoComplete="new-password"
            value={form.password}
            onChange={(e) => setForm({ ...form, password: e.target.value })}
          />
        </label>
        <button type="submit" className="button button-primary">
          Add user
        </button>
        {formError && (
          <p className="field-issue" role="alert">
            {formError}
          </p>
        )}
      </form>
      <InviteForm />
      <div className="table-wrap">
        <table className="table" aria-label="Users">
          <HeadWithActions heads={['Name', 'E-mail', 'Role', 'Status']} />
          <tbody>
            {users?.map((u) => (
              <tr key={u.id} data-testid={`user-${u.email}`}>
                <td>{u.name}</td>
                <td>{u.email}</td>
                <td>
                  <select
                    aria-label={`Role of ${u.name}`}
                    value={u.role}
                    disabled={u.deactivatedAt !== null}
                    onChange={(e) =>
                      act(`${u.name} is now ${e.target.value}; they sign in again`, () =>
                        api('PATCH', `/api/admin/users/${u.id}`, { role: e.target.value }),
                      )
                    }
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                </td>
                <td>{u.deactivatedAt === null ? 'active' : `deactivated ${timeAgo(new Date(u.deactivatedAt).toISOString())}`}</td>
                <td className="actions">
                  <button type="button" className="button button-small button-ghost" onClick={() => void showSessions(u.id)}>
                    Sessions
                  </button>
                  {u.deactivatedAt === null && u.id !== me.id && (
                    <button
                      type="button"
                      className="button button-small"
                      onClick={() => {
                        if (confirm(`Deactivate ${u.name}? They are signed out everywhere and cannot sign in again.`))
                          void act(`${u.name} deactivated`, () => api('POST', `/api/admin/users/${u.id}/deactivate`))
                      }}
                    >
                      Deactivate
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {sessions && (
        <section className="card" aria-label="Sessions">
          <h3>Sessions of {users?.find((u) => u.id === sessions.userId)?.name}</h3>
          {sessions.items.length === 0 && <p className="empty">No live session.</p>}
          <ul className="session-list">
            {sessions.items.map((s) => (
              <li key={s.id}>
                signed in {timeAgo(new Date(s.createdAt).toISOString())}, expires {new Date(s.expiresAt).toLocaleString()}{' '}
                <button
                  type="button"
                  className="button button-small"
                  onClick={async () => {
                    await act('Session ended', () => api('DELETE', `/api/admin/sessions/${s.id}`))
                    await showSessions(sessions.userId)
                  }}
                >
                  End session
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </section>
  )
}
