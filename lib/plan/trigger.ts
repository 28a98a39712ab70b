import { clip, InvalidInput, listSome } from '../errors.ts';
import { AWS_PARTITION, parseKmsArn } from '../kms/key.ts';
import { ActiveRunsPolicySchema, KeyUseCaseSchema, type Plan } from '../rotation.ts';
import { LIMITS, MIN_OLD_KEY_RETENTION_HOURS, OLD_KEY_RETENTION_TOO_SHORT } from '../settings.ts';
import { parseInput } from '../validate.ts';
import * as z from '../zod.ts';
import { UnsupportedEvent } from './errors.ts';

/** A KMS key ARN of a real partition (lib/kms/key.ts `AWS_PARTITION`). */
const KEY_ARN = new RegExp(`^arn:(?:${AWS_PARTITION}):kms:[a-z0-9-]+:\\d{12}:key/[A-Za-z0-9-]+$`);
const KEY_ALIAS = /^alias\/[A-Za-z0-9/_-]+$/;
/** A KMS key or alias ARN with the characters KMS allows in key ids and alias names. */
const KMS_REF_ARN = new RegExp(
  `^arn:(?:${AWS_PARTITION}):kms:[a-z0-9-]+:\\d{12}:(?:key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)$`,
);

/**
 * A Databricks workspace id. JSON numbers are doubles: an id above 2^53 − 1 has already lost digits by the
 * time it arrives, and rotating "the nearest" workspace would be wrong, so such an id is refused.
 */
const WorkspaceIdSchema = z.number().check(
  z.positive('must be a positive workspace id'),
  z.refine(Number.isSafeInteger, {
    message: `must be a whole number no larger than ${Number.MAX_SAFE_INTEGER} (larger ids lose digits in JSON)`,
  }),
);

/** The manual execution input (DESIGN §5). Strict: an unknown field is an error naming it. */
export const ManualInputSchema = z
  .strictObject({
    workspaceIds: z.optional(
      z.array(WorkspaceIdSchema).check(
        z.minLength(
          1,
          'must list at least one workspace id (omit the field to use the configured workspaces)',
        ),
        z.maxLength(
          LIMITS.workspaceIds,
          `must list at most ${LIMITS.workspaceIds} workspace ids; split the rotation into several executions`,
        ),
        z.superRefine((ids, ctx) => {
          const repeated = repeatedValues(ids);
          if (repeated.length > 0) {
            ctx.addIssue({ code: 'custom', message: `repeats workspace id(s) ${listSome(repeated)}` });
          }
        }),
      ),
    ),
    keyArn: z.optional(
      z
        .string()
        .check(
          z.maxLength(2048, 'must be a KMS key ARN (at most 2048 characters)'),
          z.regex(KEY_ARN, 'must be a KMS key ARN like arn:aws:kms:us-east-1:111122223333:key/<key id>'),
        ),
    ),
    keyAlias: z.optional(
      z.string().check(
        z.maxLength(256, 'must be an alias name of at most 256 characters'),
        z.regex(KEY_ALIAS, 'must be an alias name like alias/databricks-managed-services'),
        z.refine((a) => !a.startsWith('alias/aws/'), 'must not be an AWS managed alias (alias/aws/…)'),
      ),
    ),
    useCases: z._default(
      z.array(KeyUseCaseSchema).check(
        z.minLength(1, 'must name at least one use case (MANAGED_SERVICES, STORAGE)'),
        z.maxLength(2, 'must name each use case at most once (MANAGED_SERVICES, STORAGE)'),
        z.refine((u) => new Set(u).size === u.length, 'must not repeat a use case'),
      ),
      ['MANAGED_SERVICES'],
    ),
    reuseKeyForClusterVolumes: z._default(z.boolean(), true),
    dryRun: z._default(z.boolean(), false),
    /**
     * A planned workspace locked by another execution: wait (planning again every minute, at most
     * LOCK_WAIT_MINUTES) instead of failing with WorkspaceBusy.
     */
    waitForLock: z._default(z.boolean(), false),
    activeRuns: z._default(ActiveRunsPolicySchema, 'wait'),
    drainTimeoutMinutes: z._default(
      z
        .number()
        .check(
          z.positive(),
          z.lte(
            LIMITS.drainTimeoutMinutes,
            `must be at most ${LIMITS.drainTimeoutMinutes} (minutes): a longer drain would outgrow the execution's 25,000-event history`,
          ),
        ),
      60,
    ),
    oldKeyRetentionHours: z.optional(
      z
        .number()
        .check(
          z.gte(MIN_OLD_KEY_RETENTION_HOURS, OLD_KEY_RETENTION_TOO_SHORT),
          z.lte(
            LIMITS.oldKeyRetentionHours,
            `must be at most ${LIMITS.oldKeyRetentionHours} (hours, 30 days); keep the old key longer by simply not retiring it`,
          ),
        ),
    ),
    maxConcurrency: z.optional(z.number().check(z.int(), z.gte(1), z.lte(40))),
    /**
     * Touch every workspace of the account that the key reaches: needed when neither `workspaceIds` nor
     * the deployment's WORKSPACE_IDS names them (DESIGN §5), so that no start reaches all by omission.
     */
    allWorkspaces: z.optional(z.boolean()),
    /**
     * Verify, without downtime, the workspaces that use the key (configurations and key policy), as after a
     * KMS rotation of its material: no compute is touched and no workspace changes key.
     */
    verify: z._default(z.boolean(), false),
    /** With `verify`: re-grant Databricks in a key policy that no longer does (else `KeyPolicyDrift`). */
    repairPolicy: z.optional(z.boolean()),
  })
  .check(
    z.superRefine((input, ctx) => {
      if (input.allWorkspaces !== undefined && input.workspaceIds !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['allWorkspaces'],
          message: 'cannot be given with workspaceIds: either name the workspaces or ask for all of them',
        });
      }
      if (input.repairPolicy !== undefined && !input.verify) {
        ctx.addIssue({
          code: 'custom',
          path: ['repairPolicy'],
          message: 'applies to a verification only: give it with "verify": true',
        });
      }
      if (input.keyArn === undefined && input.keyAlias === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['keyArn'],
          message: 'is required: name the target key with keyArn or keyAlias',
        });
      }
    }),
  );
export type ManualInput = z.infer<typeof ManualInputSchema>;

export type KeyEventKind = Exclude<Plan['trigger']['kind'], 'manual' | 'aliasMoved'>;

/** What started the execution, with the key it concerns still unresolved (an ARN when the event has one). */
export type Trigger =
  | { kind: 'manual'; input: ManualInput }
  | {
      kind: 'aliasMoved';
      eventId: string | undefined;
      origin: EventOrigin;
      /** As the event names it: `alias/x`, or an alias ARN. */
      aliasName: string;
      /** The alias's new target: a key ARN when the event carries it, else the id the caller passed. */
      keyRef: string;
      failedWith: undefined;
    }
  | {
      kind: KeyEventKind;
      eventId: string | undefined;
      origin: EventOrigin;
      /** The key the event is about: a key ARN when the event carries it, else id/alias to resolve. */
      keyRef: string;
      failedWith: undefined;
    }
  | FailedCall;

/**
 * A KMS API call that CloudTrail recorded as failed (`detail.errorCode` set): nothing changed, so there is
 * nothing to do, whatever else the record holds or lacks (a failed call's parameters are often what made it
 * fail: an empty or malformed key id, a missing target). Its key and alias are kept only when well formed.
 */
export interface FailedCall {
  kind: KeyEventKind | 'aliasMoved';
  eventId: string | undefined;
  origin: EventOrigin;
  /** CloudTrail's `eventName` (DisableKey, ScheduleKeyDeletion, CreateAlias, UpdateAlias). */
  eventName: string;
  /** CloudTrail's `errorCode`: why the call failed. */
  failedWith: string;
  keyRef: string | undefined;
  aliasName: string | undefined;
}

/** Where an event says it comes from (the envelope's `account` and `region`), to check before acting. */
export interface EventOrigin {
  account: string | undefined;
  region: string | undefined;
}

/** What makes an object an event worth classifying: string `detail-type` and `source`. */
const EventHeadSchema = z.looseObject({ 'detail-type': z.string(), source: z.string() });

/**
 * A key as an event names it: key id, key ARN, alias name or alias ARN (KMS' own `KeyId` forms, at most
 * 2048 characters). Anything else is refused before KMS is asked.
 */
const KeyRefSchema = z.string().check(
  z.maxLength(2048, 'must be a KMS key id, key ARN, alias name or alias ARN (at most 2048 characters)'),
  z.refine(
    (ref) => KMS_REF_ARN.test(ref) || KEY_ALIAS.test(ref) || /^[A-Za-z0-9-]{1,128}$/.test(ref),
    'must be a KMS key id, key ARN, alias name or alias ARN',
  ),
);

const AliasNameSchema = z.string().check(
  z.maxLength(2048, 'must be a KMS alias name or alias ARN'),
  z.refine(
    (name) => KEY_ALIAS.test(name) || (KMS_REF_ARN.test(name) && parseKmsArn(name)?.kind === 'alias'),
    'must be a KMS alias name (alias/…) or alias ARN',
  ),
);

/**
 * The EventBridge envelope, as AWS documents it, with bounds: every field the plan reads, or that ends up
 * in the plan (`id`), is checked, so a malformed one is `InvalidInput` naming it rather than a crash later.
 */
const EnvelopeSchema = z.looseObject({
  'detail-type': z.string(),
  source: z.string(),
  id: z.optional(
    z.string().check(z.minLength(1), z.maxLength(256, 'must be an event id of at most 256 characters')),
  ),
  time: z.optional(
    z.string().check(
      z.maxLength(64, 'must be an RFC 3339 time'),
      z.refine((t) => !Number.isNaN(Date.parse(t)), 'must be an RFC 3339 time'),
    ),
  ),
  account: z.optional(z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id'))),
  region: z.optional(z.string().check(z.regex(/^[a-z0-9-]{1,32}$/, 'must be an AWS region name'))),
  resources: z.optional(
    z
      .array(z.string().check(z.maxLength(2048, 'must be an ARN of at most 2048 characters')))
      .check(z.maxLength(100, 'must list at most 100 resources')),
  ),
  detail: z.optional(z.looseObject({})),
});

/** `KMS CMK Rotation`, `KMS CMK Deletion`, `KMS Imported Key Material Expiration`. */
const KmsEventSchema = z.extend(EnvelopeSchema, {
  detail: z.optional(z.looseObject({ 'key-id': z.optional(KeyRefSchema) })),
});

/** Enough of a CloudTrail event to tell whether it is one of ours. */
const CloudTrailHeadSchema = z.extend(EnvelopeSchema, {
  detail: z.looseObject({
    eventSource: z.optional(z.string()),
    eventName: z.optional(z.string()),
  }),
});

const ErrorCodeSchema = z.string().check(z.maxLength(256, 'must be an error code of at most 256 characters'));

/** The envelope of a CloudTrail call and whether it failed: all a failed call needs to be a no-op. */
const CloudTrailCallSchema = z.extend(CloudTrailHeadSchema, {
  detail: z.extend(CloudTrailHeadSchema.shape.detail, { errorCode: z.optional(ErrorCodeSchema) }),
});

/** A KMS API call recorded by CloudTrail (DisableKey, ScheduleKeyDeletion, CreateAlias, UpdateAlias). */
const CloudTrailEventSchema = z.extend(EnvelopeSchema, {
  detail: z.looseObject({
    eventSource: z.optional(z.string()),
    eventName: z.optional(z.string()),
    errorCode: z.optional(ErrorCodeSchema),
    requestParameters: z.optional(
      z.nullable(
        z.looseObject({
          keyId: z.optional(KeyRefSchema),
          targetKeyId: z.optional(KeyRefSchema),
          aliasName: z.optional(AliasNameSchema),
        }),
      ),
    ),
    responseElements: z.optional(
      z.nullable(
        z.looseObject({
          keyId: z.optional(z.string().check(z.maxLength(2048, 'must be a KMS key id or ARN'))),
        }),
      ),
    ),
    resources: z.optional(
      z
        .array(
          z.looseObject({
            ARN: z.optional(z.string().check(z.maxLength(2048, 'must be an ARN of at most 2048 characters'))),
          }),
        )
        .check(z.maxLength(100, 'must list at most 100 resources')),
    ),
  }),
});

const KMS_EVENT_KINDS: ReadonlyMap<string, KeyEventKind> = new Map([
  ['KMS CMK Rotation', 'keyRotated'],
  ['KMS CMK Deletion', 'keyDeleted'],
  ['KMS Imported Key Material Expiration', 'keyMaterialExpired'],
]);

const CLOUDTRAIL_KINDS: ReadonlyMap<string, KeyEventKind | 'aliasMoved'> = new Map([
  ['DisableKey', 'keyDisabled'],
  ['ScheduleKeyDeletion', 'keyDeletionScheduled'],
  ['CreateAlias', 'aliasMoved'],
  ['UpdateAlias', 'aliasMoved'],
]);

const CLOUDTRAIL = 'AWS API Call via CloudTrail';

/** True when `raw` looks like an EventBridge event (it has `detail-type` and `source`). */
export function isEvent(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'detail-type' in raw && 'source' in raw;
}

/**
 * Classifies the plan step's input: the manual execution input (validated strictly) or one of the KMS
 * events of DESIGN §3. Any other event raises `UnsupportedEvent`; a bad manual input, or a supported event
 * with a malformed field, raises `InvalidInput` naming the field. Pure: key references are extracted, not
 * resolved.
 */
export function parseTrigger(raw: unknown): Trigger {
  if (!isEvent(raw)) return { kind: 'manual', input: parseInput(ManualInputSchema, raw, 'execution input') };
  const head = EventHeadSchema.safeParse(raw);
  if (!head.success) throw new UnsupportedEvent('the event has no string detail-type/source; cannot plan it');
  const detailType = head.data['detail-type'];
  const described = `event "${clip(detailType, 100)}" from ${clip(head.data.source, 100)}`;
  if (head.data.source !== 'aws.kms') throw unsupported(described);

  const simpleKind = KMS_EVENT_KINDS.get(detailType);
  if (simpleKind) {
    const event = parseInput(KmsEventSchema, raw, described);
    const keyRef = firstKeyArn(event.resources) ?? nonEmpty(event.detail?.['key-id']);
    if (!keyRef)
      throw new InvalidInput(`${described} names no key (resources[] and detail.key-id are empty)`, {
        details: { field: 'detail.key-id' },
      });
    return { kind: simpleKind, eventId: event.id, origin: originOf(event), keyRef, failedWith: undefined };
  }

  if (detailType !== CLOUDTRAIL) throw unsupported(described);
  const call = parseInput(CloudTrailHeadSchema, raw, described).detail;
  const eventName = call.eventName ?? '(none)';
  const kind = CLOUDTRAIL_KINDS.get(eventName);
  if (call.eventSource !== 'kms.amazonaws.com' || !kind) {
    throw unsupported(
      `CloudTrail event ${clip(eventName, 100)} from ${clip(call.eventSource ?? '(unknown source)', 100)}`,
    );
  }
  const callDescribed = `CloudTrail ${eventName} event`;
  // A failed call changed nothing: a no-op, judged on the envelope alone (its parameters may be what failed).
  const envelope = parseInput(CloudTrailCallSchema, raw, callDescribed);
  const errorCode = nonEmpty(envelope.detail.errorCode);
  if (errorCode !== undefined)
    return failedCall(raw, kind, eventName, errorCode, originOf(envelope), envelope.id);

  const refs = callReferences(kind, parseInput(CloudTrailEventSchema, raw, callDescribed));
  if (kind === 'aliasMoved') {
    if (!refs.aliasName || !refs.keyRef) {
      throw new InvalidInput(`${callDescribed} lacks requestParameters.aliasName or targetKeyId`, {
        details: {
          field: refs.aliasName
            ? 'detail.requestParameters.targetKeyId'
            : 'detail.requestParameters.aliasName',
        },
      });
    }
    return { ...refs.head, kind, aliasName: refs.aliasName, keyRef: refs.keyRef, failedWith: undefined };
  }
  if (!refs.keyRef)
    throw new InvalidInput(`${callDescribed} lacks requestParameters.keyId`, {
      details: { field: 'detail.requestParameters.keyId' },
    });
  return { ...refs.head, kind, keyRef: refs.keyRef, failedWith: undefined };
}

/** The key (and, for an alias move, the alias) a well-formed CloudTrail call names, if it names them. */
function callReferences(
  kind: KeyEventKind | 'aliasMoved',
  event: z.infer<typeof CloudTrailEventSchema>,
): {
  head: { eventId: string | undefined; origin: EventOrigin };
  keyRef: string | undefined;
  aliasName: string | undefined;
} {
  const detail = event.detail;
  const request = detail.requestParameters ?? {};
  const resourceArns = (detail.resources ?? []).map((r) => r.ARN);
  const head = { eventId: event.id, origin: originOf(event) };
  if (kind === 'aliasMoved') {
    return {
      head,
      aliasName: nonEmpty(request.aliasName),
      keyRef: firstKeyArn(resourceArns) ?? nonEmpty(request.targetKeyId),
    };
  }
  const responseKey = nonEmpty(detail.responseElements?.keyId);
  return {
    head,
    aliasName: undefined,
    keyRef:
      firstKeyArn(resourceArns) ??
      (responseKey && KEY_ARN.test(responseKey) ? responseKey : undefined) ??
      nonEmpty(request.keyId),
  };
}

/**
 * The no-op trigger of a failed call, with its key and alias when the record names them well formed (for the
 * reason the plan gives); a malformed or missing reference is no reason to alarm about a call that failed.
 */
function failedCall(
  raw: unknown,
  kind: KeyEventKind | 'aliasMoved',
  eventName: string,
  errorCode: string,
  origin: EventOrigin,
  eventId: string | undefined,
): FailedCall {
  const parsed = CloudTrailEventSchema.safeParse(raw);
  const refs = parsed.success ? callReferences(kind, parsed.data) : undefined;
  return {
    kind,
    eventId,
    origin,
    eventName,
    failedWith: errorCode,
    keyRef: refs?.keyRef,
    aliasName: refs?.aliasName,
  };
}

function originOf(event: { account?: string | undefined; region?: string | undefined }): EventOrigin {
  return { account: event.account, region: event.region };
}

function unsupported(what: string): UnsupportedEvent {
  return new UnsupportedEvent(
    `${what} is not a trigger of this state machine; it handles the manual input, KMS CMK Rotation, KMS CMK Deletion, KMS Imported Key Material Expiration and CloudTrail DisableKey, ScheduleKeyDeletion, CreateAlias, UpdateAlias`,
    { details: { event: what } },
  );
}

/** The first well-formed key ARN (not an alias ARN) among `values`. */
function firstKeyArn(values: readonly unknown[] | undefined): string | undefined {
  return values?.find((v): v is string => typeof v === 'string' && KEY_ARN.test(v));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

/** The values that occur more than once in `values`, each once, in order of first repeat. */
function repeatedValues<T>(values: readonly T[]): T[] {
  const seen = new Set<T>();
  const repeated = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) repeated.add(value);
    seen.add(value);
  }
  return [...repeated];
}

/** `alias/x` from `alias/x` or an alias ARN (whose account and region the plan checks first). */
export function aliasNameOf(value: string): string {
  const parsed = parseKmsArn(value);
  return parsed?.kind === 'alias' ? `alias/${parsed.name}` : value;
}
