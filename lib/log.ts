import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger. Powertools emits structured JSON; the log level comes from `POWERTOOLS_LOG_LEVEL`.
 * Never pass secrets or tokens to it: the Databricks client and credential loader keep them out of every
 * object they return or throw.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'cmk-rotator' });
