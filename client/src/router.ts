/** A minimal History-API router: the path is the state; `navigate` pushes. */
import { useEffect, useState } from 'react'
import { type Collection, isCollection } from '../../shared/collections.js'

export type Route =
  | { screen: 'home' }
  | { screen: 'list'; collection: Collection }
  | { screen: 'record'; collection: Collection; id: string }
  | { screen: 'new'; collection: Collection }
  | { screen: 'invoice-print'; id: string }
  | { screen: 'my-tasks' }
  | { screen: 'board' }
  | { screen: 'calendar' }
  | { screen: 'exports' }
  | { screen: 'import' }
  | { screen: 'admin' }
  | { screen: 'invite'; token: string }
  | { screen: 'trash'; collection: Collection }

export function parseRoute(path: string): Route {
  const [first, second, third] = path.split('/').filter(Boolean)
  if (first === 'board') return { screen: 'board' }
  if (first === 'calendar') return { screen: 'calendar' }
  if (first === 'exports') return { screen: 'exports' }
  if (first === 'import') return { screen: 'import' }
  if (first === 'admin') return { screen: 'admin' }
  if (first === 'invite' && second) return { screen: 'invite', token: second }
  if (first === 'my-tasks') return { screen: 'my-tasks' }
  // `new` is never a record id (they are 19 characters, see newRecordId).
  if (isCollection(first) && second === 'new') return { screen: 'new', collection: first }
  if (first === 'invoices' && second && third === 'print') return { screen: 'invoice-print', id: second }
  if (first === 'trash') return { screen: 'trash', collection: isCollection(second) ? second : 'deals' }
  if (isCollection(first)) return second ? { screen: 'record', collection: first, id: second } : { screen: 'list', collection: first }
  return { screen: 'home' }
}

export function navigate(path: string): void {
  if (location.pathname === path) return
  history.pushState(null, '', path)
  dispatchEvent(new PopStateEvent('popstate'))
}

export function useRoute(): Route {
  const [path, setPath] = useState(location.pathname)
  useEffect(() => {
    const update = () => setPath(location.pathname)
    addEventListener('popstate', update)
    return () => removeEventListener('popstate', update)
  }, [])
  return parseRoute(path)
}
