import { describe, expect, it } from 'vitest';
import { matchesPattern } from './event-pattern.ts';

const event = {
  source: 'aws.kms',
  'detail-type': 'AWS API Call via CloudTrail',
  resources: ['arn:aws:kms:us-east-1:111122223333:key/a', 'arn:aws:kms:us-east-1:111122223333:alias/b'],
  detail: {
    eventName: 'UpdateAlias',
    requestParameters: { aliasName: 'alias/databricks-managed-services' },
    count: 7,
    responseElements: null,
  },
};

describe('matchesPattern (the EventBridge semantics the deployment tests rely on)', () => {
  it('matches exact values and treats an array as alternatives', () => {
    expect(matchesPattern({ source: ['aws.ec2', 'aws.kms'] }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.ec2'] }, event)).toBe(false);
  });

  it('requires every named field to match', () => {
    expect(matchesPattern({ source: ['aws.kms'], detail: { eventName: ['DisableKey'] } }, event)).toBe(false);
  });

  it('descends into nested objects', () => {
    const pattern = { detail: { requestParameters: { aliasName: ['alias/databricks-managed-services'] } } };
    expect(matchesPattern(pattern, event)).toBe(true);
    expect(matchesPattern({ detail: { requestParameters: { aliasName: ['alias/other'] } } }, event)).toBe(
      false,
    );
  });

  it('does not match a nested pattern against a missing or non-object field', () => {
    expect(matchesPattern({ detail: { missing: { x: ['y'] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { eventName: { x: ['y'] } } }, event)).toBe(false);
  });

  it('matches an event array when any element matches', () => {
    expect(matchesPattern({ resources: ['arn:aws:kms:us-east-1:111122223333:alias/b'] }, event)).toBe(true);
    expect(matchesPattern({ resources: ['arn:aws:kms:us-east-1:111122223333:alias/c'] }, event)).toBe(false);
  });

  it('matches prefix, suffix, equals-ignore-case and wildcard', () => {
    expect(matchesPattern({ detail: { eventName: [{ prefix: 'Update' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { eventName: [{ prefix: 'Create' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { eventName: [{ suffix: 'Alias' }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { eventName: [{ 'equals-ignore-case': 'updatealias' }] } }, event)).toBe(
      true,
    );
    expect(matchesPattern({ source: [{ wildcard: 'aws.*' }] }, event)).toBe(true);
    expect(matchesPattern({ source: [{ wildcard: 'aws.s*' }] }, event)).toBe(false);
  });

  it('matches anything-but only when the field is present and differs', () => {
    expect(matchesPattern({ detail: { eventName: [{ 'anything-but': ['DisableKey'] }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { eventName: [{ 'anything-but': 'UpdateAlias' }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: [{ 'anything-but': 'x' }] } }, event)).toBe(false);
  });

  it('matches exists on presence, and only exists:false on an absent field', () => {
    expect(matchesPattern({ detail: { errorCode: [{ exists: false }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { errorCode: [{ exists: true }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { eventName: [{ exists: false }] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { responseElements: [null] } }, event)).toBe(true);
  });

  it('matches numeric ranges', () => {
    expect(matchesPattern({ detail: { count: [{ numeric: ['>', 5, '<=', 7] }] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { count: [{ numeric: ['>', 7] }] } }, event)).toBe(false);
  });

  it('rejects a pattern construct it does not know instead of guessing', () => {
    expect(() => matchesPattern({ source: [{ cidr: '10.0.0.0/8' }] }, event)).toThrow(/unsupported/);
    expect(() => matchesPattern({ source: 'aws.kms' }, event)).toThrow(/array or an object/);
  });
});
