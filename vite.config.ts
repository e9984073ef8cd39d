import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  root: 'client',
  plugins: [react()],
  build: { outDir: '../dist', emptyOutDir: true },
  server: {
    // The server lets the session cookie change state or open a socket only from its own
    // origin, the scheme and Host it is addressed as (server/http/origin.ts). The proxy keeps
    // the browser's Host (no changeOrigin, which the string shorthand would turn on), so the
    // dev page's origin is the server's own.
    proxy: {
      '/api': { target: 'http://127.0.0.1:8787', changeOrigin: false },
      '/sync': { target: 'ws://127.0.0.1:8787', ws: true, changeOrigin: false },
    },
  },
  test: {
    root: '.',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    execArgv: ['--expose-gc'],
  },
})
