import { z } from 'zod';
import { InvalidInput } from '../errors.ts';
import { isKeyArn, parseKmsArn } from '../kms/key.ts';
import { ActiveRunsPolicySchema, KeyUseCaseSchema, type Plan } from '../rotation.ts';
import { parseInput } from '../validate.ts';
import { UnsupportedEvent } from './errors.ts';

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const KEY_ALIAS = /^alias\/[A-Za-z0-9/_-]+$/;

/** The manual execution input (DESIGN §5). Strict: an unknown field is an error naming it. */
export const ManualInputSchema = z
  .strictObject({
    workspaceIds: z
      .array(z.number().int().positive())
      .min(1, 'must list at least one workspace id (omit the field to use the configured workspaces)')
      .optional(),
    keyArn: z
      .string()
      .regex(KEY_ARN, 'must be a KMS key ARN like arn:aws:kms:us-east-1:111122223333:key/<key id>')
      .optional(),
    keyAlias: z
      .string()
      .regex(KEY_ALIAS, 'must be an alias name like alias/databricks-managed-services')
      .refine((a) => !a.startsWith('alias/aws/'), 'must not be an AWS managed alias (alias/aws/…)')
      .optional(),
    useCases: z
      .array(KeyUseCaseSchema)
      .min(1, 'must name at least one use case (MANAGED_SERVICES, STORAGE)')
      .refine((u) => new Set(u).size === u.length, 'must not repeat a use case')
      .default(['MANAGED_SERVICES']),
    reuseKeyForClusterVolumes: z.boolean().default(true),
    dryRun: z.boolean().default(false),
    activeRuns: ActiveRunsPolicySchema.default('wait'),
    drainTimeoutMinutes: z
      .number()
      .positive()
      .max(24 * 60)
      .default(60),
    oldKeyRetentionHours: z.number().min(0).optional(),
    maxConcurrency: z.number().int().min(1).max(40).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.keyArn === undefined && input.keyAlias === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['keyArn'],
        message: 'is required: name the target key with keyArn or keyAlias',
      });
    }
  });
export type ManualInput = z.infer<typeof ManualInputSchema>;

export type KeyEventKind = Exclude<Plan['trigger']['kind'], 'manual' | 'aliasMoved'>;

/** What started the execution, with the key it concerns still unresolved (an ARN when the event has one). */
export type Trigger =
  | { kind: 'manual'; input: ManualInput }
  | {
      kind: 'aliasMoved';
      eventId: string | undefined;
      aliasName: string;
      /** The alias's new target: a key ARN when the event carries it, else the id the caller passed. */
      keyRef: string;
      /** CloudTrail `errorCode` when the API call itself failed (nothing changed). */
      failedWith: string | undefined;
    }
  | {
      kind: KeyEventKind;
      eventId: string | undefined;
      /** The key the event is about: a key ARN when the event carries it, else id/alias to resolve. */
      keyRef: string;
      failedWith: string | undefined;
    };

const EventSchema = z.looseObject({
  'detail-type': z.string(),
  source: z.string(),
  id: z.string().optional(),
  resources: z.array(z.unknown()).optional(),
  detail: z.looseObject({}).optional(),
});

const CloudTrailDetailSchema = z.looseObject({
  eventSource: z.string().optional(),
  eventName: z.string().optional(),
  errorCode: z.string().optional(),
  requestParameters: z.looseObject({}).nullable().optional(),
  responseElements: z.looseObject({}).nullable().optional(),
  resources: z.array(z.looseObject({ ARN: z.string().optional() })).optional(),
});

const KMS_EVENT_KINDS: Record<string, KeyEventKind> = {
  'KMS CMK Rotation': 'keyRotated',
  'KMS CMK Deletion': 'keyDeleted',
  'KMS Imported Key Material Expiration': 'keyMaterialExpired',
};

const CLOUDTRAIL_KINDS: Record<string, KeyEventKind | 'aliasMoved'> = {
  DisableKey: 'keyDisabled',
  ScheduleKeyDeletion: 'keyDeletionScheduled',
  CreateAlias: 'aliasMoved',
  UpdateAlias: 'aliasMoved',
};

/** True when `raw` looks like an EventBridge event (it has `detail-type` and `source`). */
export function isEvent(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'detail-type' in raw && 'source' in raw;
}

/**
 * Classifies the plan step's input: the manual execution input (validated strictly) or one of the KMS
 * events of DESIGN §3. Any other event raises `UnsupportedEvent`; a bad manual input raises `InvalidInput`
 * naming the field. Pure: key references are extracted, not resolved.
 */
export function parseTrigger(raw: unknown): Trigger {
  if (!isEvent(raw)) return { kind: 'manual', input: parseInput(ManualInputSchema, raw, 'execution input') };
  const parsed = EventSchema.safeParse(raw);
  if (!parsed.success)
    throw new UnsupportedEvent('the event has no string detail-type/source; cannot plan it');
  const event = parsed.data;
  const detailType = event['detail-type'];
  const described = `event "${detailType}" from ${event.source}`;
  if (event.source !== 'aws.kms') throw unsupported(described);

  const simpleKind = KMS_EVENT_KINDS[detailType];
  if (simpleKind) {
    const keyRef = firstKeyArn(event.resources) ?? stringField(event.detail, 'key-id');
    if (!keyRef)
      throw new InvalidInput(`${described} names no key (resources[] and detail.key-id are empty)`);
    return { kind: simpleKind, eventId: event.id, keyRef, failedWith: undefined };
  }

  if (detailType !== 'AWS API Call via CloudTrail') throw unsupported(described);
  const detail = CloudTrailDetailSchema.parse(event.detail ?? {});
  const eventName = detail.eventName ?? '(none)';
  const kind = CLOUDTRAIL_KINDS[eventName];
  if (detail.eventSource !== 'kms.amazonaws.com' || !kind) {
    throw unsupported(`CloudTrail event ${eventName} from ${detail.eventSource ?? '(unknown source)'}`);
  }
  const request = detail.requestParameters ?? {};
  const response = detail.responseElements ?? {};
  const resourceArns = (detail.resources ?? []).map((r) => r.ARN);
  if (kind === 'aliasMoved') {
    const aliasName = aliasNameOf(stringField(request, 'aliasName'));
    const keyRef = firstKeyArn(resourceArns) ?? stringField(request, 'targetKeyId');
    if (!aliasName || !keyRef) {
      throw new InvalidInput(
        `CloudTrail ${eventName} event lacks requestParameters.aliasName or targetKeyId`,
      );
    }
    return { kind, eventId: event.id, aliasName, keyRef, failedWith: detail.errorCode };
  }
  const responseKey = stringField(response, 'keyId');
  const keyRef =
    firstKeyArn(resourceArns) ??
    (responseKey && isKeyArn(responseKey) ? responseKey : undefined) ??
    stringField(request, 'keyId');
  if (!keyRef) throw new InvalidInput(`CloudTrail ${eventName} event lacks requestParameters.keyId`);
  return { kind, eventId: event.id, keyRef, failedWith: detail.errorCode };
}

function unsupported(what: string): UnsupportedEvent {
  return new UnsupportedEvent(
    `${what} is not a trigger of this state machine; it handles the manual input, KMS CMK Rotation, KMS CMK Deletion, KMS Imported Key Material Expiration and CloudTrail DisableKey, ScheduleKeyDeletion, CreateAlias, UpdateAlias`,
    { details: { event: what } },
  );
}

function firstKeyArn(values: readonly unknown[] | undefined): string | undefined {
  return values?.find((v): v is string => typeof v === 'string' && isKeyArn(v));
}

function stringField(object: Record<string, unknown> | undefined, field: string): string | undefined {
  const value = object?.[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `alias/x` from `alias/x` or an alias ARN. */
function aliasNameOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parsed = parseKmsArn(value);
  return parsed?.kind === 'alias' ? `alias/${parsed.name}` : value;
}
