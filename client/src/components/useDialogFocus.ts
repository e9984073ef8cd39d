/** What every dialog of the app does: focus its first control on opening, close on Escape. */
import { type RefObject, useEffect } from 'react'

export function useDialogFocus(first: RefObject<HTMLElement | null>, onClose: () => void): void {
  useEffect(() => {
    first.current?.focus()
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose()
    addEventListener('keydown', onKey)
    return () => removeEventListener('keydown', onKey)
  }, [first, onClose])
}
