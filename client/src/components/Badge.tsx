/** A stage or status as a coloured badge, worded as the selects word it (`enumLabel`), so both read the same. */
import { enumLabel } from '../fieldKinds.js'

export function Badge({ value }: { value: string }) {
  return <span className={`badge badge-${value}`}>{enumLabel(value)}</span>
}
