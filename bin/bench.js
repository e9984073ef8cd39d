#!/usr/bin/env node
// `npm run bench [-- --quick]`: runs bench/run.ts through tsx (see README, "Benchmark").
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../bench/run.ts')
try {
  await main(process.argv.slice(2))
} catch (error) {
  console.error(`bench: ${error instanceof Error ? error.message : error}`)
  process.exit(1)
}
