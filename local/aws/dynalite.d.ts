/** Types of `dynalite` (an in-memory DynamoDB over HTTP), which ships none: the options this project uses. */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB directory; in memory when omitted. */
    path?: string;
    /** Milliseconds a table stays CREATING / DELETING / UPDATING (500 by default). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
  }

  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}
