import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTrigger } from '../../lib/plan/trigger.ts';
import { arnOf, NEW_KEY } from './fakes.ts';

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

const WS = 1234567890123456;

/** Runs `act` and returns what it threw (fails the test when it did not throw). */
function thrown(act: () => unknown): Error & { details?: Record<string, unknown> } {
  try {
    act();
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

/** A copy of the fixture with `change` applied to it. */
function eventWith(name: string, change: (event: Record<string, unknown>) => void): Record<string, unknown> {
  const event = fixture(name);
  change(event);
  return event;
}

const detailOf = (event: Record<string, unknown>) => event.detail as Record<string, unknown>;

describe('parseTrigger: manual input bounds', () => {
  const manual = (extra: Record<string, unknown> = {}) => ({
    workspaceIds: [WS],
    keyArn: arnOf(NEW_KEY),
    ...extra,
  });

  it('accepts the largest values it allows', () => {
    // Act
    const trigger = parseTrigger(
      manual({
        workspaceIds: Array.from({ length: 500 }, (_, i) => WS + i),
        oldKeyRetentionHours: 720,
        drainTimeoutMinutes: 240,
        maxConcurrency: 40,
      }),
    );
    // Assess
    expect(trigger.kind).toBe('manual');
  });

  it.each([
    ['oldKeyRetentionHours', '721 hours', { oldKeyRetentionHours: 721 }, 'must be at most 720'],
    ['oldKeyRetentionHours', '-1 hours', { oldKeyRetentionHours: -1 }, ''],
    ['drainTimeoutMinutes', '241 minutes', { drainTimeoutMinutes: 241 }, 'must be at most 240'],
    ['drainTimeoutMinutes', '0 minutes', { drainTimeoutMinutes: 0 }, ''],
    ['maxConcurrency', '41', { maxConcurrency: 41 }, ''],
    ['maxConcurrency', '2.5', { maxConcurrency: 2.5 }, ''],
    [
      'workspaceIds',
      'with 1001 ids',
      { workspaceIds: Array.from({ length: 1001 }, (_, i) => WS + i) },
      'at most 1000',
    ],
    ['workspaceIds', 'empty', { workspaceIds: [] }, 'at least one'],
    ['useCases', 'repeating STORAGE', { useCases: ['STORAGE', 'STORAGE'] }, ''],
  ])('refuses %s %s with InvalidInput naming the field', (field, _, extra, words) => {
    // Act
    const error = thrown(() => parseTrigger(manual(extra)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toContain(words);
  });

  it('accepts a sixteen-digit workspace id', () => {
    // Act
    const trigger = parseTrigger(manual({ workspaceIds: [Number.MAX_SAFE_INTEGER, 1234567890123456] }));
    // Assess
    expect(trigger.kind === 'manual' && trigger.input.workspaceIds).toEqual([
      Number.MAX_SAFE_INTEGER,
      1234567890123456,
    ]);
  });

  it.each([
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['negative', -1234],
    ['zero', 0],
    ['above MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER + 2],
    ['a numeric string', '1234567890123456'],
  ])('refuses a workspace id that is %s, naming its index', (_, id) => {
    // Act
    const error = thrown(() => parseTrigger(manual({ workspaceIds: [WS, id] })));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('workspaceIds[1]');
    expect(error.message).toContain('workspaceIds[1]');
  });

  it('refuses duplicate workspace ids, naming each duplicated id once', () => {
    // Act
    const error = thrown(() => parseTrigger(manual({ workspaceIds: [WS, 7, WS, 8, 7, WS] })));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('workspaceIds');
    expect(error.message).toMatch(/repeats workspace id\(s\) 1234567890123456, 7$/);
  });

  it('summarises many unknown fields and clips huge ones', () => {
    // Prepare
    const extra = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${'k'.repeat(10_000)}${i}`, 1]));
    // Act
    const error = thrown(() => parseTrigger(manual(extra)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toMatch(/unknown field\(s\): .* and 40 more$/);
    expect(error.message.length).toBeLessThan(2_000);
  });
});

describe('parseTrigger: malformed events', () => {
  it.each([
    ['detail null', 'cloudtrail-disable-key', (e: Record<string, unknown>) => (e.detail = null), 'detail'],
    ['detail a string', 'kms-cmk-rotation', (e: Record<string, unknown>) => (e.detail = 'key'), 'detail'],
    ['detail an array', 'cloudtrail-update-alias', (e: Record<string, unknown>) => (e.detail = []), 'detail'],
    [
      'resources with numbers',
      'kms-cmk-deletion',
      (e: Record<string, unknown>) => (e.resources = [7]),
      'resources[0]',
    ],
    [
      'resources an object',
      'kms-cmk-rotation',
      (e: Record<string, unknown>) => (e.resources = {}),
      'resources',
    ],
    ['time not a date', 'kms-cmk-rotation', (e: Record<string, unknown>) => (e.time = 'yesterday'), 'time'],
    ['id a number', 'kms-cmk-rotation', (e: Record<string, unknown>) => (e.id = 42), 'id'],
    [
      'id a huge string',
      'kms-cmk-rotation',
      (e: Record<string, unknown>) => (e.id = 'i'.repeat(100_000)),
      'id',
    ],
    [
      'account not an account id',
      'kms-cmk-rotation',
      (e: Record<string, unknown>) => (e.account = 'me'),
      'account',
    ],
    [
      'key-id a number',
      'kms-imported-material-expiration',
      (e: Record<string, unknown>) => {
        e.resources = [];
        detailOf(e)['key-id'] = 12;
      },
      'detail.key-id',
    ],
    [
      'requestParameters an array',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).requestParameters = ['keyId']),
      'detail.requestParameters',
    ],
    [
      'requestParameters.keyId a number',
      'cloudtrail-schedule-key-deletion',
      (e: Record<string, unknown>) => (detailOf(e).requestParameters = { keyId: 5 }),
      'detail.requestParameters.keyId',
    ],
    [
      'requestParameters.keyId a huge string',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).requestParameters = { keyId: 'k'.repeat(1_000_000) }),
      'detail.requestParameters.keyId',
    ],
    [
      'requestParameters.keyId not a key reference',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).requestParameters = { keyId: 'drop table keys;' }),
      'detail.requestParameters.keyId',
    ],
    [
      'aliasName not an alias',
      'cloudtrail-update-alias',
      (e: Record<string, unknown>) =>
        ((detailOf(e).requestParameters as Record<string, unknown>).aliasName = 42),
      'detail.requestParameters.aliasName',
    ],
    [
      'detail.resources with numbers',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).resources = [1, 2]),
      'detail.resources[0]',
    ],
    [
      'detail.resources[].ARN a number',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).resources = [{ ARN: 5 }]),
      'detail.resources[0].ARN',
    ],
    [
      'responseElements a string',
      'cloudtrail-schedule-key-deletion',
      (e: Record<string, unknown>) => (detailOf(e).responseElements = 'ok'),
      'detail.responseElements',
    ],
    [
      'eventName a number',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).eventName = 7),
      'detail.eventName',
    ],
    [
      'errorCode an object',
      'cloudtrail-disable-key',
      (e: Record<string, unknown>) => (detailOf(e).errorCode = { code: 'x' }),
      'detail.errorCode',
    ],
  ])('refuses an event with %s as InvalidInput naming the field', (_, name, change, field) => {
    // Act
    const error = thrown(() => parseTrigger(eventWith(name, change)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe(field);
    expect(error.message.length).toBeLessThan(1_000);
  });

  it.each([
    ['detail-type a number', (e: Record<string, unknown>) => (e['detail-type'] = 42)],
    ['source null', (e: Record<string, unknown>) => (e.source = null)],
    ['another source', (e: Record<string, unknown>) => (e.source = 'aws.s3')],
    [
      'a detail-type named like an Object property',
      (e: Record<string, unknown>) => (e['detail-type'] = 'toString'),
    ],
    ['a huge detail-type', (e: Record<string, unknown>) => (e['detail-type'] = 'd'.repeat(1_000_000))],
    [
      'an eventName named like an Object property',
      (e: Record<string, unknown>) => (detailOf(e).eventName = 'constructor'),
    ],
    ['another event source', (e: Record<string, unknown>) => (detailOf(e).eventSource = 's3.amazonaws.com')],
  ])('refuses an event with %s as UnsupportedEvent', (_, change) => {
    // Act
    const error = thrown(() => parseTrigger(eventWith('cloudtrail-disable-key', change)));
    // Assess
    expect(error.name).toBe('UnsupportedEvent');
    expect(error.message.length).toBeLessThan(1_000);
  });

  it('ignores deeply nested junk in fields it does not read', () => {
    // Prepare
    let junk: unknown = 'bottom';
    for (let i = 0; i < 10_000; i++) junk = { a: [junk] };
    const event = eventWith('cloudtrail-disable-key', (e) => (detailOf(e).userIdentity = junk));
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toMatchObject({ kind: 'keyDisabled', eventId: '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01' });
  });
});
