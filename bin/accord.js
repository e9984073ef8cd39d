#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so there is no separate compile step.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../server/cli/main.ts')
await main(process.argv.slice(2))
