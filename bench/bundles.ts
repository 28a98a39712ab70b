/**
 * Bundle size and module-load time per Lambda function (DESIGN §9: cold start), each against a bare bundle
 * that holds only the AWS SDK clients the function bundles.
 *
 * Builds every `functions/*.ts` with the esbuild options the deployment uses (esbuild.config.cjs, shared
 * with serverless-esbuild). From esbuild's metafile it reads, per bundle:
 * - the SDK clients in it (`@aws-sdk/client-kms`, …: those whose client class is in the output) and every
 *   SDK client package with any code in it (a command without its client is dead weight);
 * - the AWS API calls it contains (the SDK ships one module per command), which tests/deploy uses to check
 *   that every function's IAM role grants exactly those;
 * - the bytes that come from zod.
 * Then it builds, with the same options, a bare bundle that only imports those clients (the SDK's own cost,
 * the floor for that function), and imports each bundle and its bare baseline in fresh Node processes,
 * alternately, taking the median load time of each.
 *
 * Run on its own: `npx tsx bench/bundles.ts [--runs 15]`; `benchBundles()` is what bench/run.ts calls.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';

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
/** AWS SDK v3 client package → its client class. */
const CLIENT_CLASS: Record<string, string> = {
  'client-kms': 'KMSClient',
  'client-s3': 'S3Client',
  'client-secrets-manager': 'SecretsManagerClient',
  'client-sns': 'SNSClient',
  'client-sfn': 'SFNClient',
  'client-dynamodb': 'DynamoDBClient',
};
const COMMAND_MODULE = /@aws-sdk[\\/](client-[a-z0-9-]+)[\\/].*[\\/]commands[\\/]([A-Za-z0-9]+)Command\.js$/;
const SDK_CLIENT_PACKAGE = /node_modules[\\/]@aws-sdk[\\/](client-[a-z0-9-]+)[\\/]/;
/** The module that defines a package's client class, e.g. `@aws-sdk/client-kms/dist-es/KMSClient.js`. */
const CLIENT_MODULE =
  /node_modules[\\/]@aws-sdk[\\/](client-[a-z0-9-]+)[\\/]dist-[a-z]+[\\/]([A-Za-z0-9]+Client)\.js$/;
const ZOD_MODULE = /node_modules[\\/]zod[\\/]/;
/** Fewer fresh imports than this give a median too noisy to compare a bundle with its baseline. */
export const MIN_LOAD_RUNS = 15;

export interface FunctionBundle {
  /** File name under functions/ without `.ts`, e.g. `check-compute-stopped`. */
  name: string;
  file: string;
  bytes: number;
  gzipBytes: number;
  /** IAM actions of the AWS SDK commands the bundle contains, e.g. `kms:DescribeKey`. */
  awsActions: string[];
  /** AWS SDK clients whose client class is in the bundle (`@aws-sdk/client-kms`, …), sorted. */
  sdkClients: string[];
  /** AWS SDK client packages with any code in the bundle (clients, commands, models), sorted. */
  sdkPackages: string[];
  /** Bytes of the bundle that come from zod. */
  zodBytes: number;
}

export interface BundleBench extends FunctionBundle {
  /** Size of the bare bundle of `sdkClients` (same esbuild options). */
  bareBytes: number;
  loadMsMedian: number;
  loadMsMin: number;
  /** Median load time of the bare bundle of `sdkClients`, measured alternately with the function's. */
  bareLoadMsMedian: number;
}

/** The Lambda entry points: every `functions/*.ts` (shared code lives in functions/commons/). */
export async function functionNames(): Promise<string[]> {
  const files = await readdir(path.join(root, 'functions'));
  return files
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/** What a bundle's metafile says about the SDK and zod in it. */
export function bundleContents(output: Metafile['outputs'][string] | undefined): {
  awsActions: string[];
  sdkClients: string[];
  sdkPackages: string[];
  zodBytes: number;
} {
  const actions = new Set<string>();
  const clients = new Set<string>();
  const packages = new Set<string>();
  let zodBytes = 0;
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    if (bytesInOutput === 0) continue;
    const command = COMMAND_MODULE.exec(input);
    const prefix = command?.[1] ? IAM_PREFIX[command[1]] : undefined;
    if (command?.[2] && prefix) actions.add(`${prefix}:${command[2]}`);
    const pkg = SDK_CLIENT_PACKAGE.exec(input)?.[1];
    if (pkg) packages.add(`@aws-sdk/${pkg}`);
    const client = CLIENT_MODULE.exec(input);
    if (client?.[1] && CLIENT_CLASS[client[1]] === client[2]) clients.add(`@aws-sdk/${client[1]}`);
    if (ZOD_MODULE.test(input)) zodBytes += bytesInOutput;
  }
  return {
    awsActions: [...actions].sort(),
    sdkClients: [...clients].sort(),
    sdkPackages: [...packages].sort(),
    zodBytes,
  };
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
  const code = await readFile(file);
  return {
    name,
    file,
    bytes: (await stat(file)).size,
    gzipBytes: gzipSync(code).length,
    ...bundleContents(Object.values(result.metafile.outputs)[0]),
  };
}

/**
 * Builds, with the deployment's esbuild options, a bundle that only imports the given SDK clients
 * (`@aws-sdk/client-kms`, …) and exports their classes, as a function's bundle holds them until its first
 * invocation creates one: the floor a function with these clients cannot go below.
 */
export async function buildBareBundle(
  sdkClients: string[],
  outdir: string,
): Promise<{ file: string; bytes: number }> {
  const imports = sdkClients.map((pkg, i) => {
    const cls = CLIENT_CLASS[pkg.replace('@aws-sdk/', '')];
    if (!cls) throw new Error(`no client class known for ${pkg}`);
    return `import { ${cls} as C${i} } from '${pkg}';`;
  });
  const contents = `${imports.join('\n')}\nexport const clients = [${sdkClients.map((_, i) => `C${i}`).join(', ')}];\n`;
  const label = sdkClients.map((p) => p.replace('@aws-sdk/client-', '')).join('+') || 'none';
  const file = path.join(outdir, `bare-${label}.mjs`);
  await build({
    ...esbuildOptions,
    absWorkingDir: root,
    stdin: { contents, resolveDir: root, loader: 'js', sourcefile: `bare-${label}.js` },
    outfile: file,
    logLevel: 'silent',
  });
  return { file, bytes: (await stat(file)).size };
}

/** Builds every function into a fresh temporary directory; call `cleanup()` when done. */
export async function buildAllBundles(): Promise<{
  bundles: FunctionBundle[];
  outdir: string;
  cleanup: () => Promise<void>;
}> {
  const outdir = await mkdtemp(path.join(tmpdir(), 'cmk-rotator-bundles-'));
  const bundles = await Promise.all((await functionNames()).map((n) => buildFunctionBundle(n, outdir)));
  return { bundles, outdir, cleanup: () => rm(outdir, { recursive: true, force: true }) };
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
 * Builds every function and its bare baseline, and measures each one's load time over `runs` fresh
 * processes (at least `MIN_LOAD_RUNS`). Prints a table (unless `print: false`) and returns the rows.
 */
export async function benchBundles(options: { runs?: number; print?: boolean } = {}): Promise<BundleBench[]> {
  const runs = Math.max(MIN_LOAD_RUNS, options.runs ?? MIN_LOAD_RUNS);
  const { bundles, outdir, cleanup } = await buildAllBundles();
  try {
    const bare = new Map<string, { file: string; bytes: number }>();
    for (const bundle of bundles) {
      const key = bundle.sdkClients.join(',');
      if (!bare.has(key)) bare.set(key, await buildBareBundle(bundle.sdkClients, outdir));
    }
    const rows: BundleBench[] = [];
    for (const bundle of bundles) {
      const baseline = bare.get(bundle.sdkClients.join(',')) as { file: string; bytes: number };
      const times: number[] = [];
      const bareTimes: number[] = [];
      // Alternate, so that a machine busier for a while slows both alike.
      for (let i = 0; i < runs; i++) {
        times.push(await loadMs(bundle.file));
        bareTimes.push(await loadMs(baseline.file));
      }
      rows.push({
        ...bundle,
        bareBytes: baseline.bytes,
        loadMsMedian: median(times),
        loadMsMin: Math.min(...times),
        bareLoadMsMedian: median(bareTimes),
      });
    }
    if (options.print !== false) console.log(formatBundleTable(rows, runs));
    return rows;
  } finally {
    await cleanup();
  }
}

/** A function's figure over its baseline's; none for a function without SDK clients (its baseline is empty). */
function ratio(row: BundleBench, of: (r: BundleBench) => number, base: (r: BundleBench) => number): string {
  return row.sdkClients.length === 0 ? '-' : (of(row) / base(row)).toFixed(2);
}

/** A Markdown table of the results (for the closing note), then the largest bundle and worst ratios. */
export function formatBundleTable(rows: BundleBench[], runs: number): string {
  const kb = (n: number) => (n / 1024).toFixed(1);
  const short = (pkgs: string[]) => pkgs.map((p) => p.replace('@aws-sdk/client-', '')).join(', ') || '-';
  const lines = [
    `Lambda bundles (esbuild, minified ESM, node22) against a bare bundle of the same SDK clients; load = median of ${runs} fresh imports of each, alternately (Node ${process.version})`,
    '',
    '| function | SDK clients | bundle KiB | zod KiB | bare KiB | size ratio | gzip KiB | load ms | bare load ms | load ratio | AWS calls in bundle |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${short(r.sdkClients)} | ${kb(r.bytes)} | ${kb(r.zodBytes)} | ${kb(r.bareBytes)} | ${ratio(
          r,
          (x) => x.bytes,
          (x) => x.bareBytes,
        )} | ${kb(r.gzipBytes)} | ${r.loadMsMedian.toFixed(1)} | ${r.bareLoadMsMedian.toFixed(1)} | ${ratio(
          r,
          (x) => x.loadMsMedian,
          (x) => x.bareLoadMsMedian,
        )} | ${r.awsActions.join(', ') || '-'} |`,
    ),
  ];
  const largest = rows.reduce<BundleBench | undefined>(
    (a, r) => (a && a.bytes >= r.bytes ? a : r),
    undefined,
  );
  const worst = (f: (r: BundleBench) => number) =>
    rows
      .filter((r) => r.sdkClients.length > 0)
      .reduce<BundleBench | undefined>((a, r) => (a && f(a) >= f(r) ? a : r), undefined);
  const size = worst((r) => r.bytes / r.bareBytes);
  const load = worst((r) => r.loadMsMedian / r.bareLoadMsMedian);
  lines.push('');
  if (largest) lines.push(`largest bundle: ${largest.name}, ${kb(largest.bytes)} KiB (${largest.bytes} B)`);
  if (size) lines.push(`worst size ratio: ${size.name}, ${(size.bytes / size.bareBytes).toFixed(2)}×`);
  if (load)
    lines.push(`worst load ratio: ${load.name}, ${(load.loadMsMedian / load.bareLoadMsMedian).toFixed(2)}×`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : undefined;
  await benchBundles({ runs: runs !== undefined && Number.isFinite(runs) && runs > 0 ? runs : undefined });
}
