/**
 * The command palette (Ctrl-K or ⌘K anywhere): find a record of any collection by a word
 * of its name, title, e-mail or other field values, or of its notes (`GET /api/search`, one
 * request per pause in typing), and go anywhere or create a record without the mouse.
 */
import '../palette.css'
import { Command } from 'cmdk'
import { useEffect, useMemo, useRef, useState } from 'react'
import { type Collection, COLLECTIONS, TITLE_FIELDS } from '../../../shared/collections.js'
import type { SearchHit } from '../../../shared/search.js'
import { COLLECTION_LABELS, fieldLabel } from '../fieldKinds.js'
import { navigate } from '../router.js'
import { api, type User } from '../session/api.js'
import { useDialogFocus } from './useDialogFocus.js'

/** Records shown per collection. @default 5 */
const PER_COLLECTION = 5
/** Quiet time after a keystroke before the records are asked for. @default 150 ms */
const SEARCH_DELAY_MS = 150

export interface Found {
  collection: Collection
  id: string
  title: string
  /** Where the words matched when not in the title: "in notes: …the word…", "Email: ops@…". */
  where: string | null
}

/** How the palette shows a record the search found. */
export function foundOf({ collection, id, title, match }: SearchHit): Found {
  let where: string | null = `${fieldLabel(match.field)}: ${match.snippet}`
  if (match.field === TITLE_FIELDS[collection]) where = null
  else if (match.field === 'notes') where = `in notes: ${match.snippet}`
  return { collection, id, title, where }
}

interface Action {
  id: string
  label: string
  group: 'Go to' | 'Create'
  run(): void
}

function useRecordSearch(query: string): { found: Found[]; searching: boolean } {
  const [state, setState] = useState<{ query: string; found: Found[] }>({ query: '', found: [] })
  const q = query.trim()
  useEffect(() => {
    if (q === '') return
    let live = true
    const timer = setTimeout(() => {
      void api<{ items: SearchHit[] }>('GET', `/api/search?q=${encodeURIComponent(q)}&limit=${PER_COLLECTION}`).then(
        (r) => live && setState({ query: q, found: r.items.map(foundOf) }),
        () => live && setState({ query: q, found: [] }),
      )
    }, SEARCH_DELAY_MS)
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [q])
  return { found: q === '' || state.query !== q ? [] : state.found, searching: q !== '' && state.query !== q }
}

export function CommandPalette({ user, onClose }: { user: User; onClose(): void }) {
  const input = useRef<HTMLInputElement>(null)
  const [query, setQuery] = useState('')
  const { found, searching } = useRecordSearch(query)
  const [selected, setSelected] = useState('')
  useDialogFocus(input, onClose)

  const actions = useMemo<Action[]>(() => {
    const go = (label: string, path: string): Action => ({ id: `go ${path}`, label, group: 'Go to', run: () => navigate(path) })
    const list: Action[] = [
      go('Pipeline', '/board'),
      go('Calendar', '/calendar'),
      go('My tasks', '/my-tasks'),
      ...COLLECTIONS.map((c) => go(COLLECTION_LABELS[c].plural, `/${c}`)),
      go('Trash', '/trash'),
      go('Exports', '/exports'),
    ]
    if (user.role !== 'viewer') list.push(go('Import', '/import'))
    if (user.role === 'owner' || user.role === 'admin') list.push(go('Admin', '/admin'))
    if (user.role !== 'viewer') {
      for (const c of COLLECTIONS) {
        const singular = COLLECTION_LABELS[c].singular.toLowerCase()
        list.push({
          id: `new ${c}`,
          label: `New ${singular}…`,
          group: 'Create',
          // The create form (events: the booking dialog over the list); nothing exists until saved.
          run: () => navigate(`/${c}/new`),
        })
      }
    }
    return list
  }, [user.role])

  const words = query.trim().toLowerCase()
  const shown = actions.filter((a) => words === '' || a.label.toLowerCase().includes(words) || a.group.toLowerCase().includes(words))
  const first = found[0] ? `${found[0].collection}/${found[0].id}` : (shown[0]?.id ?? '')
  // Records arrive after the keystroke: Enter then opens the best match, not whichever command was first.
  useEffect(() => setSelected(first), [first])
  const run = (action: () => void) => {
    onClose()
    action()
  }

  return (
    <div className="dialog-backdrop palette-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <Command
        className="palette"
        label="Search and commands"
        shouldFilter={false}
        loop
        value={selected}
        onValueChange={setSelected}
        data-testid="command-palette"
      >
        <Command.Input
          ref={input}
          value={query}
          onValueChange={setQuery}
          placeholder="Search records, or type a command…"
          aria-label="Search records, or type a command"
        />
        <Command.List>
          {searching && found.length === 0 && <Command.Loading>Searching…</Command.Loading>}
          {!searching && <Command.Empty>Nothing matches “{query.trim()}”.</Command.Empty>}
          {COLLECTIONS.map((c) => {
            const here = found.filter((f) => f.collection === c)
            if (here.length === 0) return null
            return (
              <Command.Group key={c} heading={COLLECTION_LABELS[c].plural}>
                {here.map((f) => (
                  <Command.Item
                    key={f.id}
                    value={`${c}/${f.id}`}
                    onSelect={() => run(() => navigate(`/${c}/${f.id}`))}
                    data-testid="palette-record"
                  >
                    <span className="palette-title">{f.title}</span>
                    {f.where && <span className="palette-where">{f.where}</span>}
                  </Command.Item>
                ))}
              </Command.Group>
            )
          })}
          {(['Go to', 'Create'] as const).map((group) => {
            const here = shown.filter((a) => a.group === group)
            if (here.length === 0) return null
            return (
              <Command.Group key={group} heading={group}>
                {here.map((a) => (
                  <Command.Item key={a.id} value={a.id} onSelect={() => run(a.run)}>
                    {a.label}
                  </Command.Item>
                ))}
              </Command.Group>
            )
          })}
        </Command.List>
        <div className="palette-foot" aria-hidden="true">
          ↑↓ to move · Enter to open · Esc to close
        </div>
      </Command>
    </div>
  )
}

/** Ctrl-K / ⌘K opens and closes the palette from anywhere. */
export function usePaletteShortcut(toggle: () => void): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault()
        toggle()
      }
    }
    addEventListener('keydown', onKey)
    return () => removeEventListener('keydown', onKey)
  }, [toggle])
}
