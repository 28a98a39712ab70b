import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aliasNameOf, parseTrigger, type Trigger } from '../../lib/plan/trigger.ts';
import { arnOf, NEW_KEY, OLD_KEY, WATCHED_ALIAS } from './fakes.ts';

/**
 * How the plan step reads its input, found by mutation testing (`npm run mutation`): which key an event
 * names when it names several, and what a refusal tells the operator to fix.
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));
const WS = 1234567890123456;
const OLD_ARN = arnOf(OLD_KEY);
const NEW_ARN = arnOf(NEW_KEY);
const ALIAS_ARN = `arn:aws:kms:us-east-1:111122223333:${WATCHED_ALIAS}`;

function thrown(act: () => unknown): Error & { details?: Record<string, unknown> } {
  try {
    act();
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

/** A copy of the fixture event with `change` applied to it, and to its `detail`. */
function eventWith(name: string, change: (event: Json, detail: Json) => void): Json {
  const event = fixture(name);
  change(event, event.detail as Json);
  return event;
}

const keyRefOf = (trigger: Trigger) => (trigger.kind === 'manual' ? undefined : trigger.keyRef);

describe('parseTrigger: what a refused manual input tells the operator', () => {
  const manual = (extra: Json = {}): Json => ({ workspaceIds: [WS], keyArn: NEW_ARN, ...extra });

  it.each<[string, Json, string, string]>([
    ['a zero workspace id', { workspaceIds: [0] }, 'workspaceIds[0]', 'must be a positive workspace id'],
    [
      'a fractional workspace id',
      { workspaceIds: [1.5] },
      'workspaceIds[0]',
      'must be a whole number no larger than 9007199254740991 (larger ids lose digits in JSON)',
    ],
    ['a repeated workspace id', { workspaceIds: [WS, WS] }, 'workspaceIds', `repeats workspace id(s) ${WS}`],
    [
      'a key ARN longer than KMS allows',
      { keyArn: `${NEW_ARN}${'a'.repeat(2048)}` },
      'keyArn',
      'must be a KMS key ARN (at most 2048 characters)',
    ],
    [
      'an alias ARN as keyArn',
      { keyArn: ALIAS_ARN },
      'keyArn',
      'must be a KMS key ARN like arn:aws:kms:us-east-1:111122223333:key/<key id>',
    ],
    ['a keyArn with leading junk', { keyArn: ` ${NEW_ARN}` }, 'keyArn', 'must be a KMS key ARN like'],
    ['a keyArn with trailing junk', { keyArn: `${NEW_ARN}/x` }, 'keyArn', 'must be a KMS key ARN like'],
    [
      'an alias name longer than KMS allows',
      { keyArn: undefined, keyAlias: `alias/${'a'.repeat(256)}` },
      'keyAlias',
      'must be an alias name of at most 256 characters',
    ],
    [
      'an alias without the alias/ prefix',
      { keyArn: undefined, keyAlias: 'databricks-managed-services' },
      'keyAlias',
      'must be an alias name like alias/databricks-managed-services',
    ],
    [
      'an alias with leading junk',
      { keyArn: undefined, keyAlias: `my-${WATCHED_ALIAS}` },
      'keyAlias',
      'must be an alias name like',
    ],
    [
      'an alias with trailing junk',
      { keyArn: undefined, keyAlias: `${WATCHED_ALIAS}!` },
      'keyAlias',
      'must be an alias name like',
    ],
    [
      'an AWS managed alias',
      { keyArn: undefined, keyAlias: 'alias/aws/ebs' },
      'keyAlias',
      'must not be an AWS managed alias (alias/aws/…)',
    ],
    [
      'no use case',
      { useCases: [] },
      'useCases',
      'must name at least one use case (MANAGED_SERVICES, STORAGE)',
    ],
    [
      'three use cases',
      { useCases: ['STORAGE', 'MANAGED_SERVICES', 'STORAGE'] },
      'useCases',
      'must name each use case at most once (MANAGED_SERVICES, STORAGE)',
    ],
    ['a repeated use case', { useCases: ['STORAGE', 'STORAGE'] }, 'useCases', 'must not repeat a use case'],
    [
      'no target key',
      { keyArn: undefined },
      'keyArn',
      'is required: name the target key with keyArn or keyAlias',
    ],
  ])('refuses %s, naming the field and what is expected', (_, extra, field, words) => {
    // Act
    const error = thrown(() => parseTrigger(manual(extra)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe(field);
    expect(error.message).toContain(`execution input field ${field} is invalid: ${words}`);
  });

  it.each([
    [
      'a key in the GovCloud partition',
      { keyArn: 'arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abc-1' },
    ],
    ['a key in the China partition', { keyArn: 'arn:aws-cn:kms:cn-north-1:111122223333:key/abc-1' }],
    ['a single STORAGE use case', { useCases: ['STORAGE'] }],
    ['an alias alone', { keyArn: undefined, keyAlias: WATCHED_ALIAS }],
  ])('accepts %s', (_, extra) => {
    // Act
    const trigger = parseTrigger(manual(extra));
    // Assess
    expect(trigger.kind).toBe('manual');
  });
});

describe('parseTrigger: which key an event names', () => {
  it('takes the key ARN of a KMS event from its resources', () => {
    // Act
    const trigger = parseTrigger(fixture('kms-cmk-rotation'));
    // Assess
    expect(trigger).toEqual({
      kind: 'keyRotated',
      eventId: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      keyRef: OLD_ARN,
      failedWith: undefined,
      origin: { account: '111122223333', region: 'us-east-1' },
    });
  });

  it('falls back to detail.key-id when a KMS event lists no resources', () => {
    // Act
    const trigger = parseTrigger(eventWith('kms-cmk-rotation', (e) => (e.resources = [])));
    // Assess
    expect(keyRefOf(trigger)).toBe(OLD_KEY);
  });

  it('refuses a KMS event without resources and without detail, naming detail.key-id', () => {
    // Prepare
    const event = eventWith('kms-cmk-deletion', (e) => {
      delete e.resources;
      delete e.detail;
    });
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      'event "KMS CMK Deletion" from aws.kms names no key (resources[] and detail.key-id are empty)',
    );
    expect(error.details).toEqual({ field: 'detail.key-id' });
  });

  it('takes the key ARN of a DisableKey call from its resources rather than the key id requested', () => {
    // Act
    const trigger = parseTrigger(fixture('cloudtrail-disable-key'));
    // Assess
    expect(trigger).toEqual({
      kind: 'keyDisabled',
      eventId: '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01',
      keyRef: OLD_ARN,
      failedWith: undefined,
      origin: { account: '111122223333', region: 'us-east-1' },
    });
  });

  it('takes the key ARN from the response when the call lists no resources', () => {
    // Prepare
    const event = eventWith('cloudtrail-schedule-key-deletion', (_, d) => {
      d.resources = [];
      d.requestParameters = { keyId: WATCHED_ALIAS };
      d.responseElements = { keyId: OLD_ARN };
    });
    // Act & Assess
    expect(keyRefOf(parseTrigger(event))).toBe(OLD_ARN);
  });

  it.each([
    ['is a key id, not an ARN', OLD_KEY],
    ['is empty', ''],
  ])('takes the requested key when the response key %s', (_, responseKey) => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (_, d) => {
      d.resources = [];
      d.requestParameters = { keyId: WATCHED_ALIAS };
      d.responseElements = { keyId: responseKey };
    });
    // Act & Assess
    expect(keyRefOf(parseTrigger(event))).toBe(WATCHED_ALIAS);
  });

  it('refuses a DisableKey call that names no key, naming requestParameters.keyId', () => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (_, d) => {
      d.resources = [];
      d.requestParameters = null;
    });
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe('CloudTrail DisableKey event lacks requestParameters.keyId');
    expect(error.details).toEqual({ field: 'detail.requestParameters.keyId' });
  });

  it('takes the new target of a moved alias from its key resource, not from the alias resource', () => {
    // Prepare: resources list the alias ARN first; the request names the key by id only
    const event = eventWith('cloudtrail-update-alias', (_, d) => {
      d.requestParameters = { aliasName: WATCHED_ALIAS, targetKeyId: NEW_KEY };
    });
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toEqual({
      kind: 'aliasMoved',
      eventId: '2d4f6a8c-0e1b-4c3d-9e5f-7a9b1c3d5e7f',
      aliasName: WATCHED_ALIAS,
      keyRef: NEW_ARN,
      failedWith: undefined,
      origin: { account: '111122223333', region: 'us-east-1' },
    });
  });

  it('takes the requested target key when the alias call lists only the alias resource', () => {
    // Prepare
    const event = eventWith('cloudtrail-update-alias', (_, d) => {
      d.resources = [{ ARN: ALIAS_ARN }];
      d.requestParameters = { aliasName: WATCHED_ALIAS, targetKeyId: NEW_KEY };
    });
    // Act & Assess
    expect(keyRefOf(parseTrigger(event))).toBe(NEW_KEY);
  });

  it('reads CreateAlias as an alias move, keeping an alias ARN as the event gives it (the plan checks its account)', () => {
    // Prepare
    const event = eventWith('cloudtrail-update-alias', (_, d) => {
      d.eventName = 'CreateAlias';
      d.errorCode = 'AlreadyExistsException';
      d.requestParameters = { aliasName: ALIAS_ARN, targetKeyId: NEW_ARN };
    });
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toMatchObject({
      kind: 'aliasMoved',
      aliasName: ALIAS_ARN,
      keyRef: NEW_ARN,
      failedWith: 'AlreadyExistsException',
    });
  });

  it('accepts the alias ARN of another partition as the alias moved', () => {
    // Prepare
    const aliasArn = `arn:aws-us-gov:kms:us-gov-west-1:111122223333:${WATCHED_ALIAS}`;
    const event = eventWith('cloudtrail-update-alias', (_, d) => {
      d.requestParameters = { aliasName: aliasArn, targetKeyId: NEW_ARN };
    });
    // Act & Assess
    expect(parseTrigger(event)).toMatchObject({ aliasName: aliasArn });
    expect(aliasNameOf(aliasArn)).toBe(WATCHED_ALIAS);
    expect(aliasNameOf(WATCHED_ALIAS)).toBe(WATCHED_ALIAS);
  });

  it.each<[string, Json, string]>([
    ['no alias name', { targetKeyId: NEW_ARN }, 'detail.requestParameters.aliasName'],
    ['no target key', { aliasName: WATCHED_ALIAS }, 'detail.requestParameters.targetKeyId'],
  ])('refuses an alias move with %s, naming that field', (_, request, field) => {
    // Prepare
    const event = eventWith('cloudtrail-update-alias', (_, d) => {
      d.resources = [];
      d.requestParameters = request;
    });
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      'CloudTrail UpdateAlias event lacks requestParameters.aliasName or targetKeyId',
    );
    expect(error.details).toEqual({ field });
  });
});

describe('parseTrigger: what a refused event tells the operator', () => {
  it.each<[string, string, (e: Json, d: Json) => void, string, string]>([
    [
      'an id longer than 256 characters',
      'kms-cmk-rotation',
      (e) => (e.id = 'i'.repeat(257)),
      'id',
      'must be an event id of at most 256 characters',
    ],
    [
      'a time longer than 64 characters',
      'kms-cmk-rotation',
      (e) => (e.time = '2'.repeat(65)),
      'time',
      'must be an RFC 3339 time',
    ],
    [
      'a time that is no date',
      'kms-cmk-rotation',
      (e) => (e.time = 'yesterday'),
      'time',
      'must be an RFC 3339 time',
    ],
    [
      'an account with a letter before it',
      'kms-cmk-rotation',
      (e) => (e.account = 'a111122223333'),
      'account',
      'must be a 12-digit AWS account id',
    ],
    [
      'an account with a digit too many',
      'kms-cmk-rotation',
      (e) => (e.account = '1111222233334'),
      'account',
      'must be a 12-digit AWS account id',
    ],
    [
      'a region with junk before it',
      'kms-cmk-rotation',
      (e) => (e.region = ' us-east-1'),
      'region',
      'must be an AWS region name',
    ],
    [
      'a region with junk after it',
      'kms-cmk-rotation',
      (e) => (e.region = 'us-east-1 '),
      'region',
      'must be an AWS region name',
    ],
    [
      'a resource longer than 2048 characters',
      'kms-cmk-rotation',
      (e) => (e.resources = ['r'.repeat(2049)]),
      'resources[0]',
      'must be an ARN of at most 2048 characters',
    ],
    [
      'more than 100 resources',
      'kms-cmk-rotation',
      (e) => (e.resources = Array.from({ length: 101 }, () => OLD_ARN)),
      'resources',
      'must list at most 100 resources',
    ],
    [
      'a key-id longer than 2048 characters',
      'kms-cmk-rotation',
      (_, d) => (d['key-id'] = 'k'.repeat(2049)),
      'detail.key-id',
      'must be a KMS key id, key ARN, alias name or alias ARN (at most 2048 characters)',
    ],
    [
      'a key id with junk before it',
      'cloudtrail-disable-key',
      (_, d) => (d.requestParameters = { keyId: `../${OLD_KEY}` }),
      'detail.requestParameters.keyId',
      'must be a KMS key id, key ARN, alias name or alias ARN',
    ],
    [
      'a key ARN with junk after it',
      'cloudtrail-disable-key',
      (_, d) => (d.requestParameters = { keyId: `${OLD_ARN};` }),
      'detail.requestParameters.keyId',
      'must be a KMS key id, key ARN, alias name or alias ARN',
    ],
    [
      'a key ARN with junk before it',
      'cloudtrail-disable-key',
      (_, d) => (d.requestParameters = { keyId: `x${OLD_ARN}` }),
      'detail.requestParameters.keyId',
      'must be a KMS key id, key ARN, alias name or alias ARN',
    ],
    [
      'an alias name longer than 2048 characters',
      'cloudtrail-update-alias',
      (_, d) => (d.requestParameters = { aliasName: `alias/${'a'.repeat(2048)}`, targetKeyId: NEW_KEY }),
      'detail.requestParameters.aliasName',
      'must be a KMS alias name or alias ARN',
    ],
    [
      'a key ARN as the alias name',
      'cloudtrail-update-alias',
      (_, d) => (d.requestParameters = { aliasName: NEW_ARN, targetKeyId: NEW_KEY }),
      'detail.requestParameters.aliasName',
      'must be a KMS alias name (alias/…) or alias ARN',
    ],
    [
      'an alias name without alias/',
      'cloudtrail-update-alias',
      (_, d) => (d.requestParameters = { aliasName: 'databricks', targetKeyId: NEW_KEY }),
      'detail.requestParameters.aliasName',
      'must be a KMS alias name (alias/…) or alias ARN',
    ],
    [
      'an error code longer than 256 characters',
      'cloudtrail-disable-key',
      (_, d) => (d.errorCode = 'E'.repeat(257)),
      'detail.errorCode',
      'must be an error code of at most 256 characters',
    ],
    [
      'a response key id that is a number',
      'cloudtrail-schedule-key-deletion',
      (_, d) => (d.responseElements = { keyId: 5 }),
      'detail.responseElements.keyId',
      'Invalid input: expected string, received number',
    ],
    [
      'a response key id longer than 2048 characters',
      'cloudtrail-schedule-key-deletion',
      (_, d) => (d.responseElements = { keyId: 'k'.repeat(2049) }),
      'detail.responseElements.keyId',
      'must be a KMS key id or ARN',
    ],
    [
      'a resource ARN longer than 2048 characters',
      'cloudtrail-disable-key',
      (_, d) => (d.resources = [{ ARN: 'a'.repeat(2049) }]),
      'detail.resources[0].ARN',
      'must be an ARN of at most 2048 characters',
    ],
    [
      'more than 100 call resources',
      'cloudtrail-disable-key',
      (_, d) => (d.resources = Array.from({ length: 101 }, () => ({ ARN: OLD_ARN }))),
      'detail.resources',
      'must list at most 100 resources',
    ],
  ])('refuses an event with %s, naming the field and what is expected', (_, name, change, field, words) => {
    // Act
    const error = thrown(() => parseTrigger(eventWith(name, change)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe(field);
    expect(error.message).toContain(`field ${field} is invalid: ${words}`);
  });

  it('names the KMS event it refuses by its detail-type and source', () => {
    // Act
    const error = thrown(() => parseTrigger(eventWith('kms-cmk-rotation', (e) => (e.account = 'me'))));
    // Assess
    expect(error.message).toMatch(/^event "KMS CMK Rotation" from aws\.kms field account is invalid: /);
  });

  it('names the CloudTrail call it refuses', () => {
    // Act
    const error = thrown(() =>
      parseTrigger(eventWith('cloudtrail-disable-key', (_, d) => (d.errorCode = 'E'.repeat(257)))),
    );
    // Assess
    expect(error.message).toMatch(/^CloudTrail DisableKey event field detail\.errorCode is invalid: /);
  });

  it('says which event it does not handle, and lists those it does', () => {
    // Act
    const error = thrown(() => parseTrigger(eventWith('kms-cmk-rotation', (e) => (e.source = 'aws.s3'))));
    // Assess
    expect(error.name).toBe('UnsupportedEvent');
    expect(error.message).toBe(
      'event "KMS CMK Rotation" from aws.s3 is not a trigger of this state machine; it handles the manual input, KMS CMK Rotation, KMS CMK Deletion, KMS Imported Key Material Expiration and CloudTrail DisableKey, ScheduleKeyDeletion, CreateAlias, UpdateAlias',
    );
    expect(error.details).toEqual({ event: 'event "KMS CMK Rotation" from aws.s3' });
  });

  it('names a CloudTrail call without event name or source as such', () => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (_, d) => {
      delete d.eventName;
      delete d.eventSource;
    });
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('UnsupportedEvent');
    expect(error.details).toEqual({ event: 'CloudTrail event (none) from (unknown source)' });
  });

  it('says an event without a string detail-type cannot be planned', () => {
    // Act
    const error = thrown(() => parseTrigger({ 'detail-type': 7, source: 'aws.kms' }));
    // Assess
    expect(error.name).toBe('UnsupportedEvent');
    expect(error.message).toBe('the event has no string detail-type/source; cannot plan it');
  });
});
