import { logger } from '../lib/log.ts';
import { FinishInputSchema, finishRotation } from '../lib/retention.ts';
import { defineStep } from './commons/handler.ts';

/** After the Map: fail the execution if a workspace failed, else say when the old key may be retired. */
export const handler = defineStep('finish-rotation', FinishInputSchema, async (input, env) => {
  const notice = finishRotation(input, env.clock.now());
  logger.info('rotation finished; old key retention started', { ...notice });
  return notice;
});
