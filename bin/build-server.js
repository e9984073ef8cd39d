#!/usr/bin/env node
// `npm run build`, after Vite has built the client: compiles the server into build/ (see compiled.js).
import { relative } from 'node:path'
import { buildServer, ROOT } from './compiled.js'

const { outdir, inputs } = await buildServer()
console.log(`built the server into ${relative(ROOT, outdir)}/ from ${inputs.length} files`)
