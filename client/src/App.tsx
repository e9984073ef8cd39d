/** The signed-in shell: navigation, connection indicator and the current screen. */
import { lazy, Suspense, useCallback, useEffect, useState } from 'react'
import { COLLECTIONS } from '../../shared/collections.js'
import { Avatar } from './components/Avatar.js'
import { CommandPalette, usePaletteShortcut } from './components/CommandPalette.js'
import { ConnectionIndicator } from './components/ConnectionIndicator.js'
import { SignOutButton } from './components/SignOutButton.js'
import { ToastProvider } from './components/Toasts.js'
import { COLLECTION_LABELS } from './fieldKinds.js'
import { navigate, type Route, useRoute } from './router.js'
import { ListScreen } from './screens/ListScreen.js'
import { LoginScreen } from './screens/LoginScreen.js'
import { InviteScreen } from './screens/InviteScreen.js'
import { useSession, useUser } from './session/SessionProvider.js'
import { assertNever } from '../../shared/docNames.js'
import { JobWatcher } from './screens/JobWatcher.js'
import { MentionWatcher } from './screens/MentionWatcher.js'

const RecordScreen = lazy(() => import('./screens/RecordScreen.js'))
const BoardScreen = lazy(() => import('./screens/BoardScreen.js'))
const CalendarScreen = lazy(() => import('./screens/CalendarScreen.js'))
const ExportsScreen = lazy(() => import('./screens/ExportsScreen.js'))
const ImportScreen = lazy(() => import('./screens/ImportScreen.js'))
const AdminScreen = lazy(() => import('./screens/AdminScreen.js'))
const NewRecordScreen = lazy(() => import('./screens/NewRecordScreen.js'))
const MyTasksScreen = lazy(() => import('./screens/MyTasksScreen.js'))
const InvoicePrintScreen = lazy(() => import('./screens/InvoicePrintScreen.js'))
const TrashScreen = lazy(() => import('./screens/TrashScreen.js'))

const SCREEN_TITLES = {
  home: 'Pipeline',
  board: 'Pipeline',
  calendar: 'Calendar',
  exports: 'Exports',
  import: 'Import',
  admin: 'Admin',
  invite: 'Invite',
  'my-tasks': 'My tasks',
  'invoice-print': 'Invoice',
  trash: 'Trash',
} as const

export function App() {
  const { state } = useSession()
  const route = useRoute()
  if (state.status === 'loading') return <div className="splash" aria-busy="true" />
  // An invite is accepted signed out; signed in, the page says whose session this is.
  if (route.screen === 'invite') return <InviteScreen token={route.token} />
  if (state.status === 'signed-out') return <LoginScreen reason={state.reason} />
  return (
    <ToastProvider>
      <Shell />
    </ToastProvider>
  )
}

function NavLink({ to, children, active }: { to: string; children: React.ReactNode; active: boolean }) {
  return (
    <a
      href={to}
      className={active ? 'nav-link active' : 'nav-link'}
      aria-current={active ? 'page' : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey) return
        event.preventDefault()
        navigate(to)
      }}
    >
      {children}
    </a>
  )
}

function Shell() {
  const route = useRoute()
  const user = useUser()
  const section =
    route.screen === 'trash'
      ? 'trash'
      : 'collection' in route
        ? route.collection
        : route.screen === 'invoice-print'
          ? 'invoices'
          : route.screen
  const [palette, setPalette] = useState(false)
  const togglePalette = useCallback(() => setPalette((open) => !open), [])
  const closePalette = useCallback(() => setPalette(false), [])
  usePaletteShortcut(togglePalette)
  useEffect(() => {
    const name = 'collection' in route ? COLLECTION_LABELS[route.collection].plural : SCREEN_TITLES[route.screen]
    document.title = `${name} · Accord`
  }, [route])
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a
          className="brand"
          href="/"
          onClick={(e) => {
            e.preventDefault()
            navigate('/')
          }}
        >
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          Accord
        </a>
        <ConnectionIndicator />
        <button type="button" className="palette-open" onClick={togglePalette} aria-keyshortcuts="Control+K Meta+K">
          <span className="palette-open-label">Search or jump to…</span> <kbd>Ctrl K</kbd>
        </button>
        <div className="topbar-user">
          <Avatar name={user.name} color={user.color} />
          <span className="topbar-name">
            {user.name}
            <small>{user.role}</small>
          </span>
          <SignOutButton />
        </div>
      </header>
      <nav className="sidebar" aria-label="Main">
        <NavLink to="/board" active={section === 'board'}>
          Pipeline
        </NavLink>
        <NavLink to="/calendar" active={section === 'calendar'}>
          Calendar
        </NavLink>
        <NavLink to="/my-tasks" active={section === 'my-tasks'}>
          My tasks
        </NavLink>
        <div className="nav-heading">Records</div>
        {COLLECTIONS.map((c) => (
          <NavLink key={c} to={`/${c}`} active={section === c}>
            {COLLECTION_LABELS[c].plural}
          </NavLink>
        ))}
        <div className="nav-heading">Data</div>
        <NavLink to="/trash" active={section === 'trash'}>
          Trash
        </NavLink>
        <NavLink to="/exports" active={section === 'exports'}>
          Exports
        </NavLink>
        {user.role !== 'viewer' && (
          <NavLink to="/import" active={section === 'import'}>
            Import
          </NavLink>
        )}
        {(user.role === 'owner' || user.role === 'admin') && (
          <NavLink to="/admin" active={section === 'admin'}>
            Admin
          </NavLink>
        )}
      </nav>
      <main className="content" id="main" tabIndex={-1}>
        <Suspense fallback={<div className="loading">Loading…</div>}>
          <Screen route={route} />
        </Suspense>
      </main>
      <JobWatcher />
      {palette && <CommandPalette user={user} onClose={closePalette} />}
      <MentionWatcher />
    </div>
  )
}

function Screen({ route }: { route: Route }) {
  switch (route.screen) {
    case 'home':
    case 'board':
      return <BoardScreen />
    case 'list':
      return <ListScreen key={route.collection} collection={route.collection} />
    case 'record':
      return <RecordScreen key={`${route.collection}/${route.id}`} collection={route.collection} id={route.id} />
    case 'new':
      return <NewRecordScreen key={route.collection} collection={route.collection} />
    case 'my-tasks':
      return <MyTasksScreen />
    case 'invoice-print':
      return <InvoicePrintScreen id={route.id} />
    case 'calendar':
      return <CalendarScreen />
    case 'exports':
      return <ExportsScreen />
    case 'import':
      return <ImportScreen />
    case 'admin':
      return <AdminScreen />
    case 'trash':
      return <TrashScreen key={route.collection} collection={route.collection} />
    case 'invite':
      // Shown by App, outside the shell.
      return null
    default:
      return assertNever(route)
  }
}
