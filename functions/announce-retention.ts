import { logger } from '../lib/log.ts';
import { publishNotification } from '../lib/notify.ts';
import { AnnounceInputSchema } from '../lib/retention.ts';
import { defineStep } from './commons/handler.ts';

/**
 * The retention wait is over: record (and publish to the notification topic) that the old key(s) may now be
 * retired. The machine never disables or deletes a key itself; that stays the security team's decision.
 * The rotation's last step: it hands the plan and the workspaces' results back beside the announcement, and
 * the state machine makes that its output (one state instead of a Task and a Pass).
 */
export const handler = defineStep('announce-retention', AnnounceInputSchema, async (input, env) => {
  const notice = input.retention;
  const announcement = {
    oldKeyArns: notice.oldKeyArns,
    mayBeRetiredSince: new Date(env.clock.now()).toISOString(),
    message:
      notice.oldKeyArns.length > 0
        ? `The old key(s) ${notice.oldKeyArns.join(', ')} are no longer used by workspaces ${notice.workspaceIds.join(', ')} for ${notice.oldKeyRetentionHours} h and may now be retired. Data written before the change is still encrypted with them.`
        : `No old key was replaced for workspaces ${notice.workspaceIds.join(', ')}.`,
  };
  logger.info('old key may be retired', {
    oldKeyArns: announcement.oldKeyArns,
    notice: announcement.message,
  });
  await publishNotification(
    notice.oldKeyArns.length > 0
      ? 'cmk-rotator: old KMS key may be retired'
      : 'cmk-rotator: rotation finished',
    `${announcement.message}\n\nNew key: ${notice.newKeyArn}\nRetained until: ${notice.retainUntil}\n\ncmk-rotator never disables or deletes a key; retiring it is your decision.`,
  );
  return { plan: input.plan, rotations: input.rotations, oldKeyRetirement: announcement };
});
