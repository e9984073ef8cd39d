/**
 * Document naming. Pure.
 *
 *   record  := <workspace>/<collection>/<recordId>
 *   index   := <workspace>/index/<collection>
 *   inbox   := <workspace>/inbox/<userId>
 */
import { type Collection, isCollection } from './collections.js'

export type DocName =
  | { kind: 'record'; workspace: string; collection: Collection; id: string }
  | { kind: 'index'; workspace: string; collection: Collection }
  | { kind: 'inbox'; workspace: string; userId: string }

/** Ids of workspaces, records and users: URL-safe, 1–64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value)
}

export type ParseResult = { ok: true; name: DocName } | { ok: false; reason: 'malformed' | 'unknown-kind' }

export function parseDocName(raw: string): ParseResult {
  const parts = raw.split('/')
  if (parts.length !== 3 || !parts.every(isValidId)) return { ok: false, reason: 'malformed' }
  const [workspace, second, third] = parts as [string, string, string]
  if (second === 'index') {
    return isCollection(third) ? { ok: true, name: { kind: 'index', workspace, collection: third } } : { ok: false, reason: 'unknown-kind' }
  }
  if (second === 'inbox') return { ok: true, name: { kind: 'inbox', workspace, userId: third } }
  if (isCollection(second)) return { ok: true, name: { kind: 'record', workspace, collection: second, id: third } }
  return { ok: false, reason: 'unknown-kind' }
}

export function formatDocName(name: DocName): string {
  switch (name.kind) {
    case 'record':
      return `${name.workspace}/${name.collection}/${name.id}`
    case 'index':
      return `${name.workspace}/index/${name.collection}`
    case 'inbox':
      return `${name.workspace}/inbox/${name.userId}`
    default:
      return assertNever(name)
  }
}

export const recordDocName = (workspace: string, collection: Collection, id: string) => `${workspace}/${collection}/${id}`
export const indexDocName = (workspace: string, collection: Collection) => `${workspace}/index/${collection}`
export const inboxDocName = (workspace: string, userId: string) => `${workspace}/inbox/${userId}`

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`)
}

/** A new record id: time-ordered (so ids sort by creation), then random. */
export function newRecordId(now = Date.now()): string {
  const random = Array.from({ length: 10 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)]).join('')
  return now.toString(36).padStart(9, '0') + random
}
