/**
 * Sign out without losing edits: first every edit the server lacks is delivered (waiting
 * a bounded time); if some cannot be (offline, the server out of reach), the records
 * holding them are named and the user chooses to stay signed in — they sync when the
 * connection returns — or to sign out and discard them with the device's copies.
 */
import { useCallback, useId, useRef, useState } from 'react'
import { docLabel } from '../docLabel.js'
import { useSession } from '../session/SessionProvider.js'
import { useSyncClient } from '../sync/hooks.js'
import { useDialogFocus } from './useDialogFocus.js'

interface Unsent {
  docName: string
  label: string
}

type Phase = { step: 'idle' } | { step: 'sending' } | { step: 'unsent'; documents: Unsent[] }

export function SignOutButton() {
  const client = useSyncClient()
  const { logout } = useSession()
  const [phase, setPhase] = useState<Phase>({ step: 'idle' })
  const stay = useCallback(() => setPhase({ step: 'idle' }), [])

  async function start() {
    setPhase({ step: 'sending' })
    const unsent = await client.flush()
    if (unsent.length === 0) return logout()
    setPhase({
      step: 'unsent',
      documents: unsent.map((docName) => ({ docName, label: docLabel(docName, client.documentOf(docName)?.doc ?? null) })),
    })
  }

  return (
    <>
      <button type="button" className="button button-ghost" disabled={phase.step !== 'idle'} onClick={() => void start()}>
        {phase.step === 'sending' ? 'Sending last edits…' : 'Sign out'}
      </button>
      {phase.step === 'unsent' && <UnsentEditsDialog documents={phase.documents} onStay={stay} onDiscard={() => void logout()} />}
    </>
  )
}

interface UnsentEditsDialogProps {
  documents: Unsent[]
  onStay(): void
  onDiscard(): void
}

function UnsentEditsDialog({ documents, onStay, onDiscard }: UnsentEditsDialogProps) {
  const titleId = useId()
  const stay = useRef<HTMLButtonElement>(null)
  useDialogFocus(stay, onStay)
  return (
    <div className="dialog-backdrop">
      <div className="dialog" role="alertdialog" aria-modal="true" aria-labelledby={titleId} data-testid="unsent-edits">
        <h2 id={titleId}>Edits not on the server yet</h2>
        <p>
          These records hold edits that could not reach the server. Signing out deletes this device’s copy of your records, and these edits
          with it.
        </p>
        <ul className="unsent-list">
          {documents.map(({ docName, label }) => (
            <li key={docName}>{label}</li>
          ))}
        </ul>
        <p className="cell-muted">Stay signed in and they are sent as soon as the connection returns.</p>
        <div className="dialog-actions">
          <button type="button" className="button button-ghost" onClick={onDiscard}>
            Sign out and discard
          </button>
          <button ref={stay} type="button" className="button button-primary" onClick={onStay}>
            Stay signed in
          </button>
        </div>
      </div>
    </div>
  )
}
