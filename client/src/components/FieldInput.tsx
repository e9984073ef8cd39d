/**
 * One typed input bound to a record field. Values are checked with the shared
 * schema before they are written; an invalid draft stays local and is explained, and
 * leaving the field with one puts the saved value back and says it was not saved, so
 * the screen never shows a value nobody else has. Emptying an optional field removes it.
 */
import { type ReactNode, useEffect, useId, useRef, useState } from 'react'
import { type Collection, COLLECTIONS, parseRecordRef } from '../../../shared/collections.js'
import { assertNever } from '../../../shared/docNames.js'
import { type RefEntries, refTitle } from '../fieldDisplay.js'
import { COLLECTION_LABELS, type FieldKind, enumLabel, enumValues, fieldKind, fieldLabel, REF_TARGETS } from '../fieldKinds.js'
import type { User } from '../session/api.js'
import { fromZonedInput, toZonedInput } from '../calendarMath.js'
import { fieldIssue, notSavedText } from '../fieldIssues.js'
import { shortZone } from '../timeZone.js'
import { Picker, type PickerOption } from './Picker.js'
import { RecordLink } from './RecordLink.js'

export interface FieldInputProps {
  collection: Collection
  field: string
  value: unknown
  readOnly: boolean
  users: User[]
  /** The records reference fields may point at (index entries), by collection. */
  refs: RefEntries
  /** `undefined`: the field was emptied and is to be removed. */
  onChange(value: unknown): void
  /** A server rejection for this field, if any. */
  serverIssue?: string
  /** A note that someone set this field at the same moment, if any; announced politely when it appears. */
  conflict?: ReactNode
  /** The zone an instant is typed and shown on (the calendar's, timeZone.ts); this device's when absent. */
  timeZone?: string
}

function toDraft(field: string, value: unknown, timeZone?: string): string {
  const kind = fieldKind(field)
  if (value === undefined || value === null) return ''
  if (kind === 'tags' && Array.isArray(value)) return value.join(', ')
  if (kind === 'instant' && typeof value === 'string') return timeZone ? toZonedInput(Date.parse(value), timeZone) : toLocalInput(value)
  return String(value)
}

/** ISO instant → the `datetime-local` input's local wall time. */
export function toLocalInput(iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return ''
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** The value a draft stands for; `badInput` is a number input holding something that is not a number. */
function fromDraft(field: string, draft: string, badInput = false, timeZone?: string): unknown {
  switch (fieldKind(field)) {
    case 'money':
    case 'percent':
      if (badInput) return Number.NaN
      return draft.trim() === '' ? undefined : Number(draft)
    case 'tags':
      return draft
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
    case 'instant': {
      if (timeZone) return fromZonedInput(draft, timeZone) || draft
      const date = new Date(draft)
      return Number.isNaN(date.getTime()) ? draft : date.toISOString()
    }
    default:
      return draft
  }
}

let codes: string[] | null = null
/** ISO 4217 codes the browser knows, as the server checks them (`isCurrencyCode`). */
export function currencyCodes(): string[] {
  codes ??= Intl.supportedValuesOf('currency')
  return codes
}

let names: Intl.DisplayNames | null = null
export function currencyName(code: string): string {
  names ??= new Intl.DisplayNames(undefined, { type: 'currency' })
  return names.of(code) ?? code
}

export function FieldInput(props: FieldInputProps) {
  const { collection, field, value, readOnly, onChange, timeZone } = props
  const id = useId()
  const kind = fieldKind(field)
  const [draft, setDraft] = useState(() => toDraft(field, value, timeZone))
  const [issue, setIssue] = useState<string | null>(null)
  /** An invalid draft was abandoned: why it was not saved. */
  const [notSaved, setNotSaved] = useState<string | null>(null)
  const focused = useRef(false)

  useEffect(() => {
    if (!focused.current) {
      setDraft(toDraft(field, value, timeZone))
      setIssue(null)
    }
  }, [field, value, timeZone])

  function commit(next: unknown, nextDraft: string) {
    setDraft(nextDraft)
    setNotSaved(null)
    const problem = fieldIssue(collection, field, next)
    setIssue(problem)
    if (!problem && JSON.stringify(next) !== JSON.stringify(value)) onChange(next)
  }

  const common = {
    id,
    name: field,
    disabled: readOnly,
    'aria-invalid': issue || notSaved || props.serverIssue ? true : undefined,
    'aria-describedby': issue || notSaved || props.serverIssue ? `${id}-issue` : undefined,
    onFocus: () => (focused.current = true),
    onBlur: () => {
      focused.current = false
      if (issue) setNotSaved(notSavedText(issue))
      setIssue(null)
      setDraft(toDraft(field, value, timeZone))
    },
  }

  const pickerCommon = {
    id,
    name: field,
    disabled: readOnly,
    labelledBy: `${id}-label`,
    invalid: common['aria-invalid'],
    describedBy: common['aria-describedby'],
  }

  const input = (() => {
    switch (kind) {
      case 'enum':
        return (
          <select {...common} value={draft} onChange={(e) => commit(e.target.value, e.target.value)}>
            {draft === '' && <option value="">—</option>}
            {enumValues(collection, field).map((v) => (
              <option key={v} value={v}>
                {enumLabel(v)}
              </option>
            ))}
          </select>
        )
      case 'user':
        return (
          <Picker
            {...pickerCommon}
            options={props.users.map((u) => ({ value: u.id, label: u.name, hint: u.email }))}
            value={draft}
            placeholder="— nobody —"
            onPick={(next) => commit(next === '' ? undefined : next, next)}
          />
        )
      case 'ref':
      case 'about': {
        const target = REF_TARGETS[field]
        const options: PickerOption[] =
          kind === 'ref' && target
            ? (props.refs[target] ?? []).map((e) => ({ value: e.id, label: e.title }))
            : COLLECTIONS.flatMap((c) =>
                (props.refs[c] ?? []).map((e) => ({ value: `${c}/${e.id}`, label: e.title, hint: COLLECTION_LABELS[c].singular })),
              )
        const linked = kind === 'ref' && target && draft ? { collection: target, id: draft } : parseRecordRef(draft)
        return (
          <div className="ref-field">
            <Picker {...pickerCommon} options={options} value={draft} onPick={(next) => commit(next === '' ? undefined : next, next)} />
            {linked && (
              <RecordLink
                collection={linked.collection}
                id={linked.id}
                className="ref-open"
                label={`Open ${refTitle(props.refs, linked.collection, linked.id)}`}
              >
                Open ↗
              </RecordLink>
            )}
          </div>
        )
      }
      case 'users': {
        const selected = Array.isArray(value) ? (value as string[]) : []
        const nameOf = (userId: string) => props.users.find((u) => u.id === userId)?.name ?? userId
        return (
          <div className="chips" role="group" aria-labelledby={`${id}-label`}>
            {selected.map((userId) => (
              <span key={userId} className="chip">
                {nameOf(userId)}
                {!readOnly && (
                  <button
                    type="button"
                    className="chip-remove"
                    aria-label={`Remove ${nameOf(userId)}`}
                    onClick={() => {
                      const next = selected.filter((x) => x !== userId)
                      commit(next, next.join(','))
                    }}
                  >
                    ×
                  </button>
                )}
              </span>
            ))}
            {!readOnly && (
              <Picker
                {...pickerCommon}
                options={props.users.filter((u) => !selected.includes(u.id)).map((u) => ({ value: u.id, label: u.name, hint: u.email }))}
                value=""
                placeholder="+ Add"
                clearable={false}
                onPick={(userId) => {
                  const next = [...selected, userId]
                  commit(next, next.join(','))
                }}
              />
            )}
          </div>
        )
      }
      case 'currency': {
        const codes = currencyCodes()
        return (
          <select {...common} value={draft} onChange={(e) => commit(e.target.value, e.target.value)}>
            {draft === '' && <option value="">—</option>}
            {draft !== '' && !codes.includes(draft) && <option value={draft}>{draft}</option>}
            {codes.map((code) => (
              <option key={code} value={code}>
                {code} — {currencyName(code)}
              </option>
            ))}
          </select>
        )
      }
      case 'percent':
        return (
          <input
            {...common}
            type="number"
            min={0}
            max={100}
            step="0.01"
            inputMode="decimal"
            value={draft}
            onChange={(e) => commit(fromDraft(field, e.target.value, e.target.validity.badInput), e.target.value)}
          />
        )
      case 'money':
        return (
          <input
            {...common}
            type="number"
            min={0}
            step="0.01"
            inputMode="decimal"
            value={draft}
            onChange={(e) => commit(fromDraft(field, e.target.value, e.target.validity.badInput), e.target.value)}
          />
        )
      case 'date':
        return <input {...common} type="date" value={draft} onChange={(e) => commit(e.target.value, e.target.value)} />
      case 'instant':
        return (
          <input
            {...common}
            type="datetime-local"
            value={draft}
            onChange={(e) => commit(fromDraft(field, e.target.value, false, timeZone), e.target.value)}
          />
        )
      case 'email':
        return <input {...common} type="email" value={draft} onChange={(e) => commit(e.target.value, e.target.value)} />
      case 'text':
      case 'tags':
        return (
          <input
            {...common}
            type="text"
            value={draft}
            placeholder={kind === 'tags' ? 'comma, separated' : undefined}
            onChange={(e) => commit(fromDraft(field, e.target.value), e.target.value)}
          />
        )
      default:
        return assertNever(kind)
    }
  })()

  return (
    <FieldFrame
      id={id}
      field={field}
      kind={kind}
      message={issue ?? notSaved ?? props.serverIssue}
      labelFor={kind !== 'users' && kind !== 'user' && kind !== 'ref' && kind !== 'about'}
      conflict={props.conflict}
      zone={kind === 'instant' && timeZone ? shortZone(timeZone) : undefined}
    >
      {input}
    </FieldFrame>
  )
}

/** A field's label, its input and what is wrong with it; `id` is the input's, `${id}-issue` the message's. */
export function FieldFrame(props: {
  id: string
  field: string
  kind: FieldKind
  message?: string | null
  labelFor: boolean
  /** A note on a value set at the same moment as someone else's (see ConflictNote). */
  conflict?: ReactNode
  /** The short name of the zone an instant is shown on, after the label. */
  zone?: string
  children: ReactNode
}) {
  const { id, message } = props
  return (
    <div className={`field field-${props.kind}${props.conflict ? ' field-conflicted' : ''}`}>
      <label htmlFor={props.labelFor ? id : undefined} id={`${id}-label`}>
        {fieldLabel(props.field)}
        {props.zone && <span className="field-zone"> ({props.zone})</span>}
      </label>
      {props.children}
      {message && (
        <p className="field-issue" id={`${id}-issue`} role="alert">
          {message}
        </p>
      )}
      {/* Always rendered: a live region must exist before its content changes to be announced. */}
      <div className="field-conflict" aria-live="polite">
        {props.conflict}
      </div>
    </div>
  )
}
