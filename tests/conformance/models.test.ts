import { describe, expect, it } from 'vitest';
import { answerMisfits } from './harness.ts';
import { loadModels, misfits } from './sdk-models.ts';

/** The referee itself: the checker must catch each kind of misfit, or the conformance suite proves nothing. */
const models = loadModels();

describe('The SDK model checker', () => {
  it('reads every model of the five services from the SDK declarations', () => {
    expect(models.get('compute.ClusterDetails')).toMatchObject({ kind: 'object' });
    expect(models.get('compute.State')).toMatchObject({ kind: 'alias', type: { kind: 'enum' } });
    expect(models.size).toBeGreaterThan(500);
  });

  it('accepts a cluster that fits ClusterDetails', () => {
    const cluster = {
      cluster_id: '0101-000000-abc',
      state: 'TERMINATED',
      cluster_source: 'UI',
      num_workers: 2,
      custom_tags: { team: 'data' },
      termination_reason: { code: 'USER_REQUEST', type: 'SUCCESS', parameters: { username: 'x' } },
    };

    expect(misfits(models, 'compute.ClusterDetails', cluster)).toEqual([]);
  });

  it('names an undeclared field, a value outside its enum, a wrong type and a null, with their paths', () => {
    const cluster = {
      cluster_id: 7,
      state: 'STOPPED',
      network: 'databricks-managed',
      termination_reason: { code: 'USER_REQUEST', type: null },
    };

    expect(misfits(models, 'compute.ClusterDetails', cluster)).toEqual([
      { path: '$.cluster_id', problem: 'is number 7, expected string' },
      { path: '$.state', problem: expect.stringContaining('is "STOPPED", not one of') },
      { path: '$.network', problem: 'is not a field of compute.ClusterDetails' },
      { path: '$.termination_reason.type', problem: expect.stringContaining('is null') },
    ]);
  });

  it('follows references across services (a job cluster spec is a compute model) and array items', () => {
    const job = {
      job_id: 1,
      settings: { job_clusters: [{ job_cluster_key: 'main', new_cluster: { num_workers: 'two' } }] },
    };

    expect(misfits(models, 'jobs.Job', job)).toEqual([
      {
        path: '$.settings.job_clusters[0].new_cluster.num_workers',
        problem: 'is string "two", expected number',
      },
    ]);
  });

  it('reports a missing required field', () => {
    expect(misfits(models, 'provisioning.AwsKeyInfo', { key_region: 'us-east-1' })).toEqual([
      { path: '$.key_arn', problem: 'is missing (required in provisioning.AwsKeyInfo)' },
    ]);
  });

  it('knows the two creation_time types of pipeline updates (UpdateInfo: number, UpdateStateInfo: string)', () => {
    const update = { update_id: 'u', creation_time: '2026-01-01T00:00:00Z' };

    expect(answerMisfits('GET', '/api/2.0/pipelines/p/updates', { updates: [update] })).toHaveLength(1);
    expect(misfits(models, 'pipelines.UpdateStateInfo', update)).toEqual([]);
  });

  it('holds a mutating call to the empty answer', () => {
    expect(answerMisfits('POST', '/api/2.1/clusters/delete', {})).toEqual([]);
    expect(answerMisfits('POST', '/api/2.1/clusters/delete', { ok: true })).toHaveLength(1);
  });
});
