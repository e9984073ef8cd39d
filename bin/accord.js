#!/usr/bin/env node
// Runs the compiled server from build/ (`npm run build`, which `npm start` runs first) while
// it matches the sources, and the TypeScript sources through tsx otherwise (see compiled.js).
import { compiledServer } from './compiled.js'

const compiled = compiledServer()
let main
if (compiled) {
  ;({ main } = await import(compiled))
} else {
  const { register } = await import('tsx/esm/api')
  register()
  ;({ main } = await import('../server/cli/main.ts'))
}
await main(process.argv.slice(2))
