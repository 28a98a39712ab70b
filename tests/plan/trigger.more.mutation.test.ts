import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTrigger } from '../../lib/plan/trigger.ts';
import { arnOf, NEW_KEY, OLD_KEY } from './fakes.ts';

/**
 * More of how the plan step reads its input, found by mutation testing (`npm run mutation`): the manual
 * fields that exclude each other, and what makes a CloudTrail call a failed one.
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));
const WS = 1234567890123456;

function thrown(act: () => unknown): Error & { details?: Record<string, unknown> } {
  try {
    act();
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

/** A copy of the fixture event with `change` applied to its `detail`. */
function eventWith(name: string, change: (detail: Json) => void): Json {
  const event = fixture(name);
  change(event.detail as Json);
  return event;
}

describe('parseTrigger: manual fields that exclude or need each other', () => {
  const manual = (extra: Json = {}): Json => ({ keyArn: arnOf(NEW_KEY), ...extra });

  it.each<[string, Json]>([
    ['"allWorkspaces": true', { allWorkspaces: true }],
    ['"allWorkspaces": false', { allWorkspaces: false }],
  ])('refuses %s given with workspaceIds, naming allWorkspaces and why', (_, extra) => {
    // Act
    const error = thrown(() => parseTrigger(manual({ workspaceIds: [WS], ...extra })));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toEqual({ field: 'allWorkspaces' });
    expect(error.message).toBe(
      'execution input field allWorkspaces is invalid: cannot be given with workspaceIds: either name the workspaces or ask for all of them',
    );
  });

  it('accepts allWorkspaces without workspaceIds, and workspaceIds without allWorkspaces', () => {
    // Act & Assess
    expect(parseTrigger(manual({ allWorkspaces: true }))).toMatchObject({
      kind: 'manual',
      input: { allWorkspaces: true },
    });
    expect(parseTrigger(manual({ workspaceIds: [WS] }))).toMatchObject({
      kind: 'manual',
      input: { workspaceIds: [WS] },
    });
  });

  it.each<[string, Json]>([
    ['"repairPolicy": true without verify', { repairPolicy: true }],
    ['"repairPolicy": false without verify', { repairPolicy: false }],
    ['"repairPolicy": true with "verify": false', { repairPolicy: true, verify: false }],
  ])('refuses %s, naming repairPolicy and why', (_, extra) => {
    // Act
    const error = thrown(() => parseTrigger(manual({ workspaceIds: [WS], ...extra })));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toEqual({ field: 'repairPolicy' });
    expect(error.message).toBe(
      'execution input field repairPolicy is invalid: applies to a verification only: give it with "verify": true',
    );
  });

  it('accepts repairPolicy with "verify": true', () => {
    // Act & Assess
    expect(parseTrigger(manual({ workspaceIds: [WS], verify: true, repairPolicy: true }))).toMatchObject({
      kind: 'manual',
      input: { verify: true, repairPolicy: true },
    });
  });
});

describe('parseTrigger: a CloudTrail call failed only when its errorCode says why', () => {
  it('plans a DisableKey call whose errorCode is empty as a call that succeeded', () => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (d) => (d.errorCode = ''));
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toEqual({
      kind: 'keyDisabled',
      eventId: '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01',
      keyRef: arnOf(OLD_KEY),
      failedWith: undefined,
      origin: { account: '111122223333', region: 'us-east-1' },
    });
  });

  it('still refuses a DisableKey call with an empty errorCode that names no key', () => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (d) => {
      d.errorCode = '';
      d.resources = [];
      d.requestParameters = null;
    });
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toEqual({ field: 'detail.requestParameters.keyId' });
  });

  it('takes a non-empty errorCode as a failed call, kept verbatim', () => {
    // Prepare
    const event = eventWith('cloudtrail-disable-key', (d) => (d.errorCode = 'KMSInvalidStateException'));
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toMatchObject({
      kind: 'keyDisabled',
      eventName: 'DisableKey',
      failedWith: 'KMSInvalidStateException',
      keyRef: arnOf(OLD_KEY),
      aliasName: undefined,
    });
  });
});
