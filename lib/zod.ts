/**
 * The zod the product's schemas use: `zod/mini`, the tree-shakable functional API (`z.optional(s)`,
 * `s.check(z.minLength(1))`), which keeps each Lambda bundle about 67 KiB smaller than classic `zod` (whose
 * methods pull in the whole library; bench/bundles.ts measures it). zod/mini has no error messages of its own
 * ("Invalid input" for everything): the English locale is configured here, once, so every issue carries the
 * message classic zod gives (`Invalid input: expected number, received string`), which `parseInput` and
 * `loadSettings` put in the errors operators read. Import zod as `import * as z from './zod.ts'`, never
 * 'zod/mini' directly, so that no schema can be parsed before the locale is set.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
