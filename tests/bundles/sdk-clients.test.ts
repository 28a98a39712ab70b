import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAllBundles, bundleContents, type FunctionBundle } from '../../bench/bundles.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { esbuildOptions } = createRequire(import.meta.url)('../../esbuild.config.cjs') as {
  esbuildOptions: BuildOptions;
};

type Client = 'dynamodb' | 'kms' | 's3' | 'secrets-manager' | 'sfn' | 'sns';

/**
 * The AWS services each function sends commands to (its IAM role grants the same, tests/deploy): Secrets
 * Manager for the Databricks credentials, DynamoDB for the workspace lock and the event ledger, S3 for
 * compute snapshots and long plans. Its bundle must hold these SDK clients (DESIGN §9).
 */
const SENDS_TO: Record<string, Client[]> = {
  'acquire-workspace-lock': ['dynamodb'],
  'announce-retention': ['sns'],
  'check-compute-restored': ['dynamodb', 's3', 'secrets-manager'],
  'check-compute-stopped': ['dynamodb', 's3', 'secrets-manager'],
  'check-workspace': ['dynamodb', 's3', 'secrets-manager'],
  'check-workspace-settled': ['dynamodb', 's3', 'secrets-manager'],
  'finish-rotation': [],
  'load-workspace-plan': ['s3'],
  'notify-execution-ended': ['sfn', 'sns'],
  'patch-key-policy': ['dynamodb', 'kms', 'secrets-manager'],
  plan: ['dynamodb', 'kms', 's3', 'secrets-manager'],
  'register-key-config': ['dynamodb', 'secrets-manager'],
  'release-locks-on-abort': ['dynamodb'],
  'release-workspace-lock': ['dynamodb'],
  'report-compute-not-restored': ['s3', 'secrets-manager'],
  'restore-compute': ['dynamodb', 's3', 'secrets-manager'],
  'stop-compute': ['dynamodb', 's3', 'secrets-manager'],
  'update-workspace': ['dynamodb', 'kms', 'secrets-manager'],
  verify: ['kms', 's3', 'secrets-manager'],
};

/**
 * Clients every bundle still holds whether or not the function sends them anything: functions/commons/
 * handler.ts offers every step `env.aws` (KMS, Secrets Manager, DynamoDB) and `env.databricks()` (Secrets
 * Manager), both deprecated. Once the steps import the clients they use (lib/aws/kms.ts, …, and
 * `databricksFor`) and handler.ts stops offering them, the bundles lose these and this test fails: empty the
 * list then. It may only shrink.
 */
const FROM_STEP_ENV: Client[] = [];

const pkg = (c: Client) => `@aws-sdk/client-${c}`;
const expected = (name: string) =>
  [...new Set([...(SENDS_TO[name] ?? []), ...FROM_STEP_ENV])].map(pkg).sort();

describe('SDK clients in each Lambda bundle (esbuild metafile, the deployment options)', () => {
  let bundles: FunctionBundle[];
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ bundles, cleanup } = await buildAllBundles());
  }, 180_000);
  afterAll(() => cleanup?.());

  it('knows every function', () => {
    expect(bundles.map((b) => b.name)).toEqual(Object.keys(SENDS_TO).sort());
  });

  it('bundles the SDK clients a function sends commands to, and no other', () => {
    // Every function at once, so that one failure names them all.
    const actual = Object.fromEntries(bundles.map((b) => [b.name, b.sdkClients]));
    const wanted = Object.fromEntries(bundles.map((b) => [b.name, expected(b.name)]));
    expect(actual).toEqual(wanted);
  });

  it('holds no SDK client package without its client (no command that nothing can send)', () => {
    const orphans = Object.fromEntries(
      bundles
        .map((b) => [b.name, b.sdkPackages.filter((p) => !b.sdkClients.includes(p))] as const)
        .filter(([, extra]) => extra.length > 0),
    );
    expect(orphans).toEqual({});
  });

  it('holds the commands of the services it sends to', () => {
    const prefix: Record<Client, string> = {
      dynamodb: 'dynamodb:',
      kms: 'kms:',
      s3: 's3:',
      'secrets-manager': 'secretsmanager:',
      sfn: 'states:',
      sns: 'sns:',
    };
    for (const bundle of bundles) {
      for (const client of SENDS_TO[bundle.name] ?? []) {
        expect(
          bundle.awsActions.some((a) => a.startsWith(prefix[client])),
          `${bundle.name} sends ${client} commands`,
        ).toBe(true);
      }
    }
  });
});

describe('lib/aws: one module per SDK client', () => {
  let outdir: string;
  beforeAll(async () => {
    outdir = await mkdtemp(path.join(tmpdir(), 'cmk-rotator-aws-modules-'));
  });
  afterAll(() => rm(outdir, { recursive: true, force: true }));

  /** The SDK client packages in a bundle of `contents` (an ES module in the repository root). */
  async function sdkPackagesOf(contents: string): Promise<string[]> {
    const result = await build({
      ...esbuildOptions,
      absWorkingDir: ROOT,
      stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'entry.ts' },
      outfile: path.join(outdir, `${Math.random().toString(36).slice(2)}.mjs`),
      metafile: true,
      logLevel: 'silent',
    });
    return bundleContents(Object.values(result.metafile.outputs)[0]).sdkPackages;
  }

  it.each([
    ['kms', 'kmsClient', 'client-kms'],
    ['secrets-manager', 'secretsManagerClient', 'client-secrets-manager'],
    ['dynamodb', 'dynamodbClient', 'client-dynamodb'],
    ['s3', 's3Client', 'client-s3'],
    ['sns', 'snsClient', 'client-sns'],
    ['sfn', 'sfnClient', 'client-sfn'],
  ])('lib/aws/%s.ts brings its own client only', async (file, fn, client) => {
    const packages = await sdkPackagesOf(`export { ${fn} } from './lib/aws/${file}.ts';`);
    expect(packages).toEqual([`@aws-sdk/${client}`]);
  });

  it('replacing clients (setAwsClients) brings no SDK client', async () => {
    expect(await sdkPackagesOf("export { setAwsClients } from './lib/aws/clients.ts';")).toEqual([]);
  });
});
