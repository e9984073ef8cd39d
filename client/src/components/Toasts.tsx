/** Transient messages in a polite live region. */
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react'

export type ToastKind = 'info' | 'success' | 'error'
/** A button on a toast (*Undo*): pressing it runs `run` and dismisses the toast. */
export interface ToastAction {
  label: string
  run: () => void
}
interface Toast {
  id: number
  kind: ToastKind
  text: string
  action?: ToastAction
}
type PushToast = (text: string, kind?: ToastKind, action?: ToastAction) => void

/** How long a toast stays. @default 6000 ms */
const TOAST_MS = 6_000
/** How long a toast with an action (*Undo*) stays. @default 10000 ms */
const ACTION_TOAST_MS = 10_000

const ToastContext = createContext<PushToast>(() => undefined)

export function useToast(): PushToast {
  return useContext(ToastContext)
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([])
  const push = useCallback((text: string, kind: ToastKind = 'info', action?: ToastAction) => {
    const id = Math.random()
    setToasts((list) => [...list.slice(-3), { id, kind, text, action }])
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), action ? ACTION_TOAST_MS : TOAST_MS)
  }, [])
  const value = useMemo(() => push, [push])
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`}>
            {t.text}
            {t.action && (
              <button
                type="button"
                className="toast-action"
                onClick={() => {
                  setToasts((list) => list.filter((x) => x.id !== t.id))
                  t.action?.run()
                }}
              >
                {t.action.label}
              </button>
            )}
            <button
              type="button"
              className="toast-close"
              aria-label="Dismiss"
              onClick={() => setToasts((list) => list.filter((x) => x.id !== t.id))}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  )
}
