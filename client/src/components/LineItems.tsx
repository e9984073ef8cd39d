/** Line items of a proposal or invoice, bound to the record's Y.Array of Y.Maps. */
import { type KeyboardEvent, useId } from 'react'
import * as Y from 'yjs'
import { itemSchema, itemTotals, type LineItem } from '../../../shared/collections.js'
import { itemToYMap } from '../../../shared/docLayout.js'
import { formatMoney } from '../fieldKinds.js'

export interface LineItemsProps {
  items: Y.Array<Y.Map<unknown>>
  /** Changes with every document change, so the rows re-read the array. */
  version: number
  readOnly: boolean
  currency?: string
  /** An invoice's tax rate, percent: adds the tax and the total with it under the items' total. */
  taxRate?: number
}

export function lineTotal(items: LineItem[]): number {
  return items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0)
}

export function LineItems({ items, readOnly, currency = 'EUR', taxRate }: LineItemsProps) {
  const headingId = useId()
  const commitOnEnter = (e: KeyboardEvent<HTMLInputElement>) => e.key === 'Enter' && e.currentTarget.blur()
  const rows = items.toArray().filter((row): row is Y.Map<unknown> => row instanceof Y.Map)
  const values = rows.map((row) => row.toJSON() as LineItem)

  function set(row: Y.Map<unknown>, key: keyof LineItem, raw: string) {
    const value = key === 'description' ? raw : Number(raw)
    const candidate = { ...(row.toJSON() as LineItem), [key]: value }
    if (itemSchema.safeParse(candidate).success) row.set(key, value)
  }

  return (
    <section className="card items-card" aria-labelledby={headingId}>
      <h2 id={headingId}>Line items</h2>
      <table className="table items">
        <thead>
          <tr>
            <th>Description</th>
            <th className="num">Qty</th>
            <th className="num">Unit price</th>
            <th className="num">Amount</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => {
            const item = values[i]!
            return (
              <tr key={i}>
                <td>
                  <input
                    aria-label={`Description of item ${i + 1}`}
                    defaultValue={item.description}
                    disabled={readOnly}
                    onBlur={(e) => set(row, 'description', e.target.value)}
                    onKeyDown={commitOnEnter}
                    key={`d${item.description}`}
                  />
                </td>
                <td className="num">
                  <input
                    aria-label={`Quantity of item ${i + 1}`}
                    type="number"
                    min={0}
                    step="any"
                    defaultValue={item.quantity}
                    disabled={readOnly}
                    onBlur={(e) => set(row, 'quantity', e.target.value)}
                    onKeyDown={commitOnEnter}
                    key={`q${item.quantity}`}
                  />
                </td>
                <td className="num">
                  <input
                    aria-label={`Unit price of item ${i + 1}`}
                    type="number"
                    min={0}
                    step="0.01"
                    defaultValue={item.unitPrice}
                    disabled={readOnly}
                    onBlur={(e) => set(row, 'unitPrice', e.target.value)}
                    onKeyDown={commitOnEnter}
                    key={`p${item.unitPrice}`}
                  />
                </td>
                <td className="num">{formatMoney(item.quantity * item.unitPrice, currency)}</td>
                <td>
                  {!readOnly && (
                    <button
                      type="button"
                      className="button button-ghost button-small"
                      aria-label={`Remove item ${i + 1}`}
                      onClick={() => items.delete(i, 1)}
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            )
          })}
        </tbody>
        <tfoot>
          <tr>
            <td colSpan={3}>
              {!readOnly && (
                <button
                  type="button"
                  className="button button-small"
                  onClick={() => items.push([itemToYMap({ description: 'New item', quantity: 1, unitPrice: 0 })])}
                >
                  + Add item
                </button>
              )}
            </td>
            <td className="num total" data-testid="items-total">
              {formatMoney(lineTotal(values), currency)}
            </td>
            <td />
          </tr>
          {taxRate !== undefined && (
            <>
              <tr>
                <td colSpan={3} className="num">
                  Tax ({taxRate} %)
                </td>
                <td className="num">{formatMoney(itemTotals(values, taxRate).tax, currency)}</td>
                <td />
              </tr>
              <tr>
                <td colSpan={3} className="num">
                  Total with tax
                </td>
                <td className="num total" data-testid="items-total-with-tax">
                  {formatMoney(itemTotals(values, taxRate).total, currency)}
                </td>
                <td />
              </tr>
            </>
          )}
        </tfoot>
      </table>
    </section>
  )
}
