/**
 * A searchable picker (cmdk): a button showing the chosen option's name opens a search box
 * over the options; picking one, or "None", calls `onPick`. Escape or leaving closes it.
 */
import { Command } from 'cmdk'
import { useRef, useState } from 'react'

export interface PickerOption {
  value: string
  label: string
  /** Shown after the label, and searched too (a collection's name, an e-mail). */
  hint?: string
}

export interface PickerProps {
  id: string
  /** The field's name, on the button (`data-field`) for tests and scripts. */
  name: string
  options: readonly PickerOption[]
  /** The chosen value, '' for none. */
  value: string
  onPick(value: string): void
  disabled?: boolean
  /** What the button reads with nothing chosen. */
  placeholder?: string
  /** Offer "None" to clear the choice. */
  clearable?: boolean
  labelledBy?: string
  describedBy?: string
  invalid?: boolean
}

export function Picker(props: PickerProps) {
  const { id, options, value, onPick } = props
  const [open, setOpen] = useState(false)
  const wrapper = useRef<HTMLDivElement>(null)
  const button = useRef<HTMLButtonElement>(null)
  const chosen = options.find((o) => o.value === value)
  const shown = value === '' ? (props.placeholder ?? '— none —') : (chosen?.label ?? value)
  const pick = (next: string) => {
    setOpen(false)
    button.current?.focus()
    if (next !== value) onPick(next)
  }
  return (
    <div
      className="picker"
      ref={wrapper}
      onBlur={(e) => {
        if (!wrapper.current?.contains(e.relatedTarget as Node | null)) setOpen(false)
      }}
    >
      <button
        ref={button}
        id={id}
        type="button"
        className="picker-button"
        data-field={props.name}
        data-value={value}
        disabled={props.disabled}
        aria-haspopup="listbox"
        aria-expanded={open}
        aria-labelledby={props.labelledBy ? `${props.labelledBy} ${id}` : undefined}
        aria-describedby={props.describedBy}
        aria-invalid={props.invalid}
        onClick={() => setOpen((o) => !o)}
      >
        <span className={value === '' ? 'picker-empty' : undefined}>{shown}</span>
        <span aria-hidden="true"> ▾</span>
      </button>
      {open && (
        <Command
          className="picker-menu"
          label={`Choose ${props.name}`}
          loop
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault()
              e.stopPropagation()
              setOpen(false)
              button.current?.focus()
            }
          }}
        >
          <Command.Input autoFocus placeholder="Search…" className="picker-search" />
          <Command.List>
            <Command.Empty>Nothing matches.</Command.Empty>
            {props.clearable !== false && value !== '' && (
              <Command.Item value="none" keywords={['none', 'clear']} onSelect={() => pick('')}>
                — None —
              </Command.Item>
            )}
            {options.map((o) => (
              <Command.Item key={o.value} value={o.value} keywords={[o.label, o.hint ?? '']} onSelect={() => pick(o.value)}>
                {o.label}
                {o.hint && <span className="picker-hint"> · {o.hint}</span>}
              </Command.Item>
            ))}
          </Command.List>
        </Command>
      )}
    </div>
  )
}
