export declare const ROOT: string
export declare function buildServer(options?: {
  root?: string
  outdir?: string
  entries?: Record<string, string>
}): Promise<{ outdir: string; inputs: string[] }>
export declare function compiledServer(root?: string): string | null
