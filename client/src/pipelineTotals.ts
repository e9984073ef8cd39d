/**
 * The pipeline's sums: amounts are added up per currency (euros and dollars never go into one
 * figure), and weighted by how likely a deal of each stage is to be won. Pure.
 */
import type { DEAL_STAGES } from '../../shared/collections.js'

export type Stage = (typeof DEAL_STAGES)[number]

/** How likely a deal at each stage is to be won: its weighted amount is amount × this. */
export const STAGE_WEIGHTS: Record<Stage, number> = {
  lead: 0.1,
  qualified: 0.25,
  proposal: 0.5,
  negotiation: 0.75,
  won: 1,
  lost: 0,
}

/** Sums of one currency. */
export interface CurrencyTotal {
  currency: string
  amount: number
  weighted: number
}

/** A deal as the sums read it. */
export interface DealAmount {
  stage: Stage
  amount: number
  currency: string
}

/** The sums of `deals` per currency, largest amount first (then by currency code). */
export function totalsByCurrency(deals: Iterable<DealAmount>): CurrencyTotal[] {
  const sums = new Map<string, CurrencyTotal>()
  for (const { stage, amount, currency } of deals) {
    let sum = sums.get(currency)
    if (!sum) sums.set(currency, (sum = { currency, amount: 0, weighted: 0 }))
    sum.amount += amount
    sum.weighted += amount * STAGE_WEIGHTS[stage]
  }
  return [...sums.values()].sort((a, b) => b.amount - a.amount || a.currency.localeCompare(b.currency))
}
