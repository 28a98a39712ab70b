import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readAsl, resolveHashes, substituteArns, withMarkedHashes } from '../../local/runner/asl.ts';

/**
 * `States.Hash` as AWS computes it (a lower-case hex digest), not as aws-local-stepfunctions 3.0.0 does
 * (wrong from 56 bytes on): the runner marks what to hash in the definition and hashes it itself.
 */

const PARENT = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key:local-overlap-';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('States.Hash in the local runner', () => {
  it('marks every States.Hash of the deployed definitions, and nothing else', () => {
    // Act
    const marked = withMarkedHashes(substituteArns(readAsl()));
    // Assess
    expect(marked).not.toContain('States.Hash');
    expect(marked).toContain("States.Format('#hash#MD5#{}#hash#', $$.Execution.Id)");
    expect(withMarkedHashes("States.Hash($.x, 'CRC32')")).toBe("States.Hash($.x, 'CRC32')");
  });

  it('hashes a marked value as AWS does, wherever it sits in a Task input', () => {
    // Prepare: two long ARNs that differ only in their last character
    const name = (id: string) => `1234-#hash#MD5#${id}#hash#`;
    // Act
    const out = resolveHashes({ Name: name(`${PARENT}1`), Input: [{ other: name(`${PARENT}2`) }], n: 3 });
    // Assess
    expect(out).toEqual({
      Name: `1234-${md5(`${PARENT}1`)}`,
      Input: [{ other: `1234-${md5(`${PARENT}2`)}` }],
      n: 3,
    });
    expect(md5(`${PARENT}1`)).not.toBe(md5(`${PARENT}2`));
    expect(resolveHashes('#hash#SHA-256#abc#hash#')).toBe(createHash('sha256').update('abc').digest('hex'));
  });
});
