import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineStep } from '../../functions/commons/handler.ts';
import {
  capMessage,
  fitForStepFunctions,
  InvalidInput,
  listSome,
  MAX_ERROR_MESSAGE_CHARS,
  RotatorError,
} from '../../lib/errors.ts';

/** Step Functions' limit on an execution's error Cause. */
const CAUSE_LIMIT = 32_768;

/** The Cause Step Functions records for a Lambda Task: the Node.js runtime's error JSON. */
const causeOf = (error: Error) =>
  JSON.stringify({
    errorType: error.name,
    errorMessage: error.message,
    trace: (error.stack ?? '').split('\n'),
  });

class WorkspaceUpdateFailed extends RotatorError {}

/** An AWS SDK v3 service exception, in shape. */
class ServiceUnavailableException extends Error {
  readonly $metadata = { httpStatusCode: 503 };
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailableException';
  }
}

describe('capMessage', () => {
  it('leaves a message that fits alone', () => {
    expect(capMessage('workspace 1 failed')).toBe('workspace 1 failed');
  });

  it('keeps the start of a long message and says how much was cut', () => {
    // Act
    const capped = capMessage(`workspace 42 failed: ${'x'.repeat(50_000)}`);
    // Assess
    expect(capped.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(capped.startsWith('workspace 42 failed: xxx')).toBe(true);
    expect(capped).toMatch(/ … \[\d+ more characters cut: messages are capped at 12000\]$/);
  });

  it('never splits a surrogate pair', () => {
    // Act
    const capped = capMessage('💥'.repeat(10_000), 101);
    // Assess
    expect(capped).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

describe('listSome', () => {
  it('lists the first items and counts the rest', () => {
    expect(listSome([1, 2, 3, 4, 5], 2)).toBe('1, 2 and 3 more');
    expect(listSome([1, 2], 2)).toBe('1, 2');
  });
});

describe('RotatorError', () => {
  it('caps its message and the stack trace that repeats it', () => {
    // Act
    const error = new WorkspaceUpdateFailed(`workspace 7: ${'y'.repeat(100_000)}`);
    // Assess
    expect(error.name).toBe('WorkspaceUpdateFailed');
    expect(error.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect((error.stack ?? '').length).toBeLessThan(MAX_ERROR_MESSAGE_CHARS + 2_000);
  });
});

describe('fitForStepFunctions', () => {
  it('keeps the name and instance of a TypeError with a huge message, and fits the Cause', () => {
    // Prepare
    const bug = new TypeError(`Cannot read properties of undefined (reading '${'z'.repeat(1_000_000)}')`);
    // Act
    const fitted = fitForStepFunctions(bug);
    // Assess
    expect(fitted).toBe(bug);
    expect(fitted.name).toBe('TypeError');
    expect(fitted.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(fitted.message.startsWith("Cannot read properties of undefined (reading 'zzz")).toBe(true);
    expect(causeOf(fitted).length).toBeLessThan(CAUSE_LIMIT);
  });

  it('fits the Cause even when JSON escaping would double the message', () => {
    // Act
    const fitted = fitForStepFunctions(new Error('"\u0001'.repeat(20_000)));
    // Assess
    expect(causeOf(fitted).length).toBeLessThan(CAUSE_LIMIT);
    expect(fitted.message.length).toBeGreaterThan(1_000);
  });

  it('keeps the name of an SDK error', () => {
    // Act
    const fitted = fitForStepFunctions(new ServiceUnavailableException('s'.repeat(40_000)));
    // Assess
    expect(fitted).toBeInstanceOf(ServiceUnavailableException);
    expect(fitted.name).toBe('ServiceUnavailableException');
    expect(causeOf(fitted).length).toBeLessThan(CAUSE_LIMIT);
  });

  it.each([
    ['a string', 'q'.repeat(50_000), 'Error'],
    ['an error-like object', { name: 'KmsThrottled', message: 'slow down' }, 'KmsThrottled'],
    ['null', null, 'Error'],
  ])('turns %s that was thrown into a named Error', (_, thrownValue, name) => {
    // Act
    const fitted = fitForStepFunctions(thrownValue);
    // Assess
    expect(fitted).toBeInstanceOf(Error);
    expect(fitted.name).toBe(name);
    expect(causeOf(fitted).length).toBeLessThan(CAUSE_LIMIT);
  });
});

describe('defineStep: errors fit Step Functions', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, {
      DATABRICKS_ACCOUNT_ID: 'acc-1',
      DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
    });
  });
  afterAll(() => {
    process.env = { ...saved };
  });

  const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
  const failingWith = (error: unknown) =>
    defineStep('failing', z.object({ n: z.number() }), async () => {
      throw error;
    });

  it.each([
    ['a TypeError from a bug', new TypeError(`x is not a function ${'f'.repeat(200_000)}`), 'TypeError'],
    [
      'an SDK error',
      new ServiceUnavailableException(`"${'e'.repeat(100_000)}"`),
      'ServiceUnavailableException',
    ],
    ['a product error', new WorkspaceUpdateFailed('w'.repeat(100_000)), 'WorkspaceUpdateFailed'],
  ])('lets %s out with its name and a Cause under 32,768 characters', async (_, error, name) => {
    // Act
    const out = (await failingWith(error)({ n: 1 }, context).catch((e: unknown) => e)) as Error;
    // Assess
    expect(out.name).toBe(name);
    expect(out.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(causeOf(out).length).toBeLessThan(CAUSE_LIMIT);
  });

  it('refuses a huge bad input with a short InvalidInput', async () => {
    // Act
    const out = (await failingWith(null)({ n: 'n'.repeat(1_000_000) }, context).catch(
      (e: unknown) => e,
    )) as Error;
    // Assess
    expect(out).toBeInstanceOf(InvalidInput);
    expect(out.message).toBe(
      'failing input field n is invalid: Invalid input: expected number, received string',
    );
  });

  it('exposes its name and schema for the fuzz test', () => {
    // Act
    const handler = failingWith(null);
    // Assess
    expect(handler.stepName).toBe('failing');
    expect(handler.schema.safeParse({ n: 1 }).success).toBe(true);
  });
});
