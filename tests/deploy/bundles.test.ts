import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctionBundle, type FunctionBundle } from '../../bench/bundles.ts';

const context = {
  functionName: 'plan',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 120_000,
} as unknown as Context;

describe('Lambda bundles (the esbuild options serverless-esbuild uses)', () => {
  let outdir: string;
  let plan: FunctionBundle;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    outdir = await mkdtemp(path.join(tmpdir(), 'cmk-rotator-bundle-test-'));
    plan = await buildFunctionBundle('plan', outdir);
    Object.assign(process.env, {
      DATABRICKS_ACCOUNT_ID: '00000000-0000-0000-0000-000000000000',
      DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
  }, 60_000);
  afterAll(async () => {
    process.env = { ...savedEnv };
    await rm(outdir, { recursive: true, force: true });
  });

  it('loads as an ES module and exports the handler', async () => {
    // Act
    const mod = (await import(pathToFileURL(plan.file).href)) as { handler?: unknown };
    // Assess
    expect(typeof mod.handler).toBe('function');
  });

  it('keeps error class names through minification, so the state machine can match them', async () => {
    // Prepare
    const { handler } = (await import(pathToFileURL(plan.file).href)) as {
      handler: (event: unknown, context: Context) => Promise<unknown>;
    };
    // Act
    const input = { workspaceIds: ['not-a-number'], keyAlias: 'alias/x' };
    const executionArn = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-local:test';
    const error = await handler({ input, executionArn }, context).catch((e: unknown) => e);
    // Assess
    expect((error as Error).name).toBe('InvalidInput');
    expect((error as Error).message).toContain('workspaceIds[0]');
  });
});
