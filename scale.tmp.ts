process.env.POWERTOOLS_LOG_LEVEL='SILENT';
const { runScenario } = await import('/work/main/local/runner/run.ts');
const { loadScenario, parseScenario } = await import('/work/main/local/scenario.ts');
for (const n of process.argv.slice(2).map(Number)) {
const raw: any = JSON.parse(JSON.stringify(await loadScenario('/work/main/local/scenarios/rotate-managed-services.json')));
const [t] = raw.databricks.workspaces;
const ids = Array.from({ length: n }, (_, i) => 2_000_000_000_000_000 + i);
raw.databricks.workspaces = ids.map((id, i) => ({ workspace_id: id, workspace_name: `ws-${i}`, deployment_name: `ws-${i}`, aws_region: t.aws_region, workspace_status: 'RUNNING', managed_services_customer_managed_key_id: t.managed_services_customer_managed_key_id, clusters: [{ cluster_id: `c-${i}-a`, cluster_name: 'etl', state: 'RUNNING', cluster_source: 'UI' }, { cluster_id: `c-${i}-b`, cluster_name: 'adhoc', state: 'TERMINATED', cluster_source: 'UI' }], warehouses: [{ id: `wh${i}`, name: 'bi', state: 'RUNNING', warehouse_type: 'PRO' }] }));
raw.databricks.rateLimits = { workspace: null, account: null, token: null };
raw.input = { ...raw.input, workspaceIds: ids };
raw.settings = { ...raw.settings, workspaceIds: ids, maxConcurrentWorkspaces: 40 };
const t0 = performance.now();
const r = await runScenario(parseScenario(raw));
const parent = r.executions[0];
console.log(JSON.stringify({ n, status: r.status, error: r.error?.name, cause: r.error?.cause?.slice(0, 120), largestHistory: r.historyEvents, parentHistory: parent?.historyEvents, maxPayload: r.maxStatePayloadBytes, simulatedMin: Math.round(r.simulatedSeconds/60), realS: Math.round((performance.now()-t0)/1000) }));
}
