/**
 * Google Sheets on the Exports screen: the spreadsheet to sync to, saved once the server has
 * opened it (its title shows), the user's own and, set by owners and admins, the workspace's;
 * then *Sync to Google Sheets*. A server without Sheets says what an admin must set instead.
 */
import { useEffect, useState } from 'react'
import { useToast } from '../components/Toasts.js'
import { api, ApiError } from '../session/api.js'

export type SavedSheet = 'mine' | 'workspace'

interface SheetTarget {
  spreadsheetId: string
  title: string
}

interface SheetsSettings {
  configured: boolean
  serviceAccount?: string
  mine?: SheetTarget
  workspace?: SheetTarget
}

const SHEET_LABELS: Record<SavedSheet, string> = { mine: 'Your spreadsheet', workspace: "The workspace's spreadsheet" }

const urlOf = (id: string) => `https://docs.google.com/spreadsheets/d/${encodeURIComponent(id)}/edit`

export function SheetsPanel({
  canSetWorkspace,
  disabled,
  onSync,
}: {
  canSetWorkspace: boolean
  disabled: boolean
  onSync: (sheet: SavedSheet) => void
}) {
  const [settings, setSettings] = useState<SheetsSettings | null>(null)
  const reload = () =>
    api<SheetsSettings>('GET', '/api/sheets')
      .then(setSettings)
      .catch(() => setSettings(null))
  // biome-ignore lint/correctness/useExhaustiveDependencies: loaded once; saving reloads
  useEffect(() => void reload(), [])

  if (!settings) return null
  if (!settings.configured)
    return (
      <div className="card sheets-panel" data-testid="sheets-panel">
        <h2>Google Sheets</h2>
        <p className="hint" role="note">
          Google Sheets is not set up on this server. An admin must set <code>ACCORD_SHEETS_CREDENTIALS</code> to a Google service account's
          JSON key file (or <code>GOOGLE_APPLICATION_CREDENTIALS</code>) and restart Accord.
        </p>
      </div>
    )
  const sheets: SavedSheet[] = canSetWorkspace || settings.workspace ? ['mine', 'workspace'] : ['mine']
  return (
    <div className="card sheets-panel" data-testid="sheets-panel">
      <h2>Google Sheets</h2>
      <p className="hint">
        Share the spreadsheet with <strong>{settings.serviceAccount}</strong> as an editor, then paste its address here. Your own
        spreadsheet gets tabs with your name; the workspace's is synced for everyone.
      </p>
      {sheets.map((sheet) => (
        <SavedSheetRow
          key={sheet}
          sheet={sheet}
          target={settings[sheet]}
          editable={sheet === 'mine' || canSetWorkspace}
          disabled={disabled}
          onChanged={() => void reload()}
          onSync={() => onSync(sheet)}
        />
      ))}
    </div>
  )
}

function SavedSheetRow({
  sheet,
  target,
  editable,
  disabled,
  onChanged,
  onSync,
}: {
  sheet: SavedSheet
  target: SheetTarget | undefined
  editable: boolean
  disabled: boolean
  onChanged: () => void
  onSync: () => void
}) {
  const toast = useToast()
  const [pasted, setPasted] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const [saving, setSaving] = useState(false)
  const inputId = `sheet-${sheet}`

  async function save() {
    setSaving(true)
    setProblem(null)
    try {
      const saved = await api<SheetTarget>('PUT', `/api/sheets/${sheet}`, { spreadsheet: pasted })
      setPasted('')
      toast(`Saved: ${saved.title}`)
      onChanged()
    } catch (e) {
      setProblem(e instanceof ApiError ? e.message : 'the server is unreachable')
    } finally {
      setSaving(false)
    }
  }

  async function forget() {
    await api('DELETE', `/api/sheets/${sheet}`).catch(() => undefined)
    onChanged()
  }

  return (
    <section className="saved-sheet" aria-label={SHEET_LABELS[sheet]} data-sheet={sheet}>
      <h3>{SHEET_LABELS[sheet]}</h3>
      {target ? (
        <p>
          <a href={urlOf(target.spreadsheetId)} target="_blank" rel="noreferrer" data-testid="sheet-title">
            {target.title || target.spreadsheetId}
          </a>{' '}
          <button type="button" className="button button-primary" disabled={disabled} onClick={onSync}>
            Sync to Google Sheets
          </button>{' '}
          {editable && (
            <button type="button" className="button button-ghost button-small" onClick={() => void forget()}>
              Remove
            </button>
          )}
        </p>
      ) : (
        <p className="cell-muted">None saved.</p>
      )}
      {editable && (
        <div className="field">
          <label htmlFor={inputId}>{target ? 'Another spreadsheet' : 'Spreadsheet address or id'}</label>
          <input
            id={inputId}
            type="text"
            value={pasted}
            placeholder="https://docs.google.com/spreadsheets/d/…"
            onChange={(e) => setPasted(e.target.value)}
          />
          <button type="button" className="button button-small" disabled={saving || pasted.trim() === ''} onClick={() => void save()}>
            Check and save
          </button>
          {problem && (
            <div className="field-issue" role="alert">
              {problem}
            </div>
          )}
        </div>
      )}
    </section>
  )
}
