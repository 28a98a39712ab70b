import type { StateMachine } from 'aws-local-stepfunctions';

/** An execution event of aws-local-stepfunctions (the package declares the type but does not export it). */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
