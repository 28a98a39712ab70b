/**
 * Bundle size and module-load time per Lambda function (DESIGN §9: cold start).
 *
 * Builds every `functions/*.ts` with the esbuild options the deployment uses (esbuild.config.cjs, shared
 * with serverless-esbuild), then imports each bundle in fresh Node processes and takes the median load time.
 * It also lists the AWS API calls each bundle contains (from esbuild's metafile: the SDK ships one module
 * per command), which tests/deploy uses to check that every function's IAM role grants exactly those.
 *
 * Run on its own: `npx tsx bench/bundles.ts [--runs 9]`; `benchBundles()` is what bench/run.ts calls.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { esbuildOptions } = createRequire(import.meta.url)('../esbuild.config.cjs') as {
  esbuildOptions: BuildOptions;
};

/** AWS SDK v3 client package → IAM service prefix. */
const IAM_PREFIX: Record<string, string> = {
  'client-kms': 'kms',
  'client-s3': 's3',
  'client-secrets-manager': 'secretsmanager',
  'client-sns': 'sns',
  'client-sfn': 'states',
  'client-dynamodb': 'dynamodb',
};
const COMMAND_MODULE = /@aws-sdk[\\/](client-[a-z0-9-]+)[\\/].*[\\/]commands[\\/]([A-Za-z0-9]+)Command\.js$/;

export interface FunctionBundle {
  /** File name under functions/ without `.ts`, e.g. `check-compute-stopped`. */
  name: string;
  file: string;
  bytes: number;
  gzipBytes: number;
  /** IAM actions of the AWS SDK commands the bundle contains, e.g. `kms:DescribeKey`. */
  awsActions: string[];
}

export interface BundleBench extends FunctionBundle {
  loadMsMedian: number;
  loadMsMin: number;
}

/** The Lambda entry points: every `functions/*.ts` (shared code lives in functions/commons/). */
export async function functionNames(): Promise<string[]> {
  const files = await readdir(path.join(root, 'functions'));
  return files
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/** Builds one function exactly as the deployment does and reports its size and the AWS calls in it. */
export async function buildFunctionBundle(name: string, outdir: string): Promise<FunctionBundle> {
  const file = path.join(outdir, `${name}.mjs`);
  const result = await build({
    ...esbuildOptions,
    absWorkingDir: root,
    entryPoints: [path.join(root, 'functions', `${name}.ts`)],
    outfile: file,
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs)[0];
  const actions = new Set<string>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const m = COMMAND_MODULE.exec(input);
    const prefix = m?.[1] ? IAM_PREFIX[m[1]] : undefined;
    if (m?.[2] && prefix && bytesInOutput > 0) actions.add(`${prefix}:${m[2]}`);
  }
  const code = await readFile(file);
  return {
    name,
    file,
    bytes: (await stat(file)).size,
    gzipBytes: gzipSync(code).length,
    awsActions: [...actions].sort(),
  };
}

/** Builds every function into a fresh temporary directory; call `cleanup()` when done. */
export async function buildAllBundles(): Promise<{
  bundles: FunctionBundle[];
  cleanup: () => Promise<void>;
}> {
  const outdir = await mkdtemp(path.join(tmpdir(), 'cmk-rotator-bundles-'));
  const bundles = await Promise.all((await functionNames()).map((n) => buildFunctionBundle(n, outdir)));
  return { bundles, cleanup: () => rm(outdir, { recursive: true, force: true }) };
}

/** Milliseconds to import `file` in a fresh Node process (what a cold start pays for the module graph). */
async function loadMs(file: string): Promise<number> {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    // The handlers read settings only when invoked; module load needs no environment.
    env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
  return Number(stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Builds every function and measures each bundle's load time over `runs` fresh processes. Prints a table
 * (unless `print: false`) and returns the rows.
 */
export async function benchBundles(options: { runs?: number; print?: boolean } = {}): Promise<BundleBench[]> {
  const runs = options.runs ?? 7;
  const { bundles, cleanup } = await buildAllBundles();
  try {
    const rows: BundleBench[] = [];
    for (const bundle of bundles) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await loadMs(bundle.file));
      rows.push({ ...bundle, loadMsMedian: median(times), loadMsMin: Math.min(...times) });
    }
    if (options.print !== false) console.log(formatBundleTable(rows, runs));
    return rows;
  } finally {
    await cleanup();
  }
}

/** A Markdown table of the results (for the closing note). */
export function formatBundleTable(rows: BundleBench[], runs: number): string {
  const kb = (n: number) => (n / 1024).toFixed(1);
  const lines = [
    `Lambda bundles (esbuild, minified ESM, node22; module load = median of ${runs} fresh imports, Node ${process.version})`,
    '',
    '| function | bundle KiB | gzip KiB | load ms (median) | load ms (min) | AWS calls in bundle |',
    '|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${kb(r.bytes)} | ${kb(r.gzipBytes)} | ${r.loadMsMedian.toFixed(1)} | ${r.loadMsMin.toFixed(1)} | ${r.awsActions.join(', ') || '-'} |`,
    ),
  ];
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : undefined;
  await benchBundles({ runs: runs !== undefined && Number.isFinite(runs) && runs > 0 ? runs : undefined });
}
