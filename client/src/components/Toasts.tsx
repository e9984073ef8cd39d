/** Transient messages in a polite live region. */
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react'
import { navigate } from '../router.js'

export type ToastKind = 'info' | 'success' | 'error'
/** A button on a toast (*Undo*): pressing it runs `run` and dismisses the toast. */
export interface ToastAction {
  label: string
  run: () => void
}
/** What a toast may offer besides its words. */
export interface ToastExtras {
  /** An app path the toast's words link to (the record a mention is in, say). */
  href?: string
  action?: ToastAction
}
interface Toast extends ToastExtras {
  id: number
  kind: ToastKind
  text: string
}
type PushToast = (text: string, kind?: ToastKind, extras?: ToastExtras) => void

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
  const push = useCallback((text: string, kind: ToastKind = 'info', extras: ToastExtras = {}) => {
    const id = Math.random()
    setToasts((list) => [...list.slice(-3), { id, kind, text, ...extras }])
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), extras.action ? ACTION_TOAST_MS : TOAST_MS)
  }, [])
  const value = useMemo(() => push, [push])
  const dismiss = (id: number) => setToasts((list) => list.filter((x) => x.id !== id))
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`}>
            {t.href ? (
              <a
                href={t.href}
                onClick={(event) => {
                  if (event.metaKey || event.ctrlKey || event.shiftKey) return
                  event.preventDefault()
                  navigate(t.href!)
                }}
              >
                {t.text}
              </a>
            ) : (
              t.text
            )}
            {t.action && (
              <button
                type="button"
                className="toast-action"
                onClick={() => {
                  dismiss(t.id)
                  t.action?.run()
                }}
              >
                {t.action.label}
              </button>
            )}
            <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  )
}
