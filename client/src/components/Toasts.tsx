/** Transient messages in a polite live region. */
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react'
import { navigate } from '../router.js'

export type ToastKind = 'info' | 'success' | 'error'
interface Toast {
  id: number
  kind: ToastKind
  text: string
  /** An app path the toast links to (the record a mention is in, say). */
  href?: string
}

type PushToast = (text: string, kind?: ToastKind, href?: string) => void

/** How long a toast stays. @default 6000 ms */
const TOAST_MS = 6_000

const ToastContext = createContext<PushToast>(() => undefined)

export function useToast(): PushToast {
  return useContext(ToastContext)
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([])
  const push = useCallback((text: string, kind: ToastKind = 'info', href?: string) => {
    const id = Math.random()
    setToasts((list) => [...list.slice(-3), { id, kind, text, href }])
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), TOAST_MS)
  }, [])
  const value = useMemo(() => push, [push])
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
