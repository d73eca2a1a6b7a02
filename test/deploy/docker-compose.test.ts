import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// No Docker engine runs where the tests run: docker-compose.yml, its configs and the Dockerfile are
// read and checked for what they promise, and the loader's start command is run by sh with a stand-in.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  command?: string[] | string;
  entrypoint?: string[];
  restart?: string;
  volumes?: string[];
  configs?: { source: string; target: string }[];
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
  configs: Record<string, { content?: string; file?: string }>;
}

const compose = async () => parse(await readFile(`${ROOT}docker-compose.yml`, 'utf8')) as Compose;

/** Compose replaces `$$` by `$` in what it hands to a container. */
const unescape = (text: string) => text.replaceAll('$$', '$');

test('every published port listens on 127.0.0.1 only, and no password has a default', async () => {
  const { services } = await compose();
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) assert.match(port, /^127\.0\.0\.1:(\d+|\$\{WAREHOUSE_PORT:-5432\}):\d+$/, `${name} publishes ${port}`);
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (!/PASSWORD/.test(key)) continue;
      // Only the bi profile's Grafana password may be absent for compose; Grafana then refuses to start.
      if (name === 'grafana' && key === 'GF_SECURITY_ADMIN_PASSWORD') assert.equal(value, '${GRAFANA_ADMIN_PASSWORD:-}');
      else assert.match(value, /^\$\{[A-Z_]+:\?.+\}$/, `${name}.${key} must come from .env, without a default`);
    }
  }
  const example = await readFile(`${ROOT}.env.example`, 'utf8');
  assert.match(example, /^# DATABASE_URL=/m, '.env.example leaves DATABASE_URL commented, so a host load does not go to the compose server');
  assert.doesNotMatch(example, /^DATABASE_URL=/m);
  for (const key of ['POSTGRES_PASSWORD', 'ANALYST_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']) assert.match(example, new RegExp(`^${key}=$`, 'm'));
});

test('PostgreSQL runs with warehouse-sized settings', async () => {
  const { services } = await compose();
  const args = (services.postgres?.command as string[]).join(' ');
  for (const setting of ['shared_buffers=2GB', 'max_wal_size=8GB', 'checkpoint_timeout=15min', 'effective_cache_size=', 'maintenance_work_mem=']) {
    assert.ok(args.includes(setting), setting);
  }
});

test('analysts get a read-only login, and the BI profile connects with it', async () => {
  const { services, configs } = await compose();
  const init = unescape(configs['analyst-login']?.content ?? '');
  assert.deepEqual(services.postgres?.configs, [{ source: 'analyst-login', target: '/docker-entrypoint-initdb.d/analyst-login.sh' }]);
  assert.match(init, /CREATE ROLE amplitude_reader NOLOGIN;/);
  assert.match(init, /CREATE ROLE analyst LOGIN PASSWORD :'password' IN ROLE amplitude_reader;/);
  assert.doesNotMatch(init, /SUPERUSER|CREATEDB|CREATEROLE|GRANT ALL/i);
  const bi = services.grafana as Service;
  assert.deepEqual(bi.profiles, ['bi']);
  const datasource = parse(unescape(configs['grafana-warehouse']?.content ?? '')) as { datasources: { user: string; url: string; jsonData: { database: string } }[] };
  assert.deepEqual(
    datasource.datasources.map((d) => [d.user, d.url, d.jsonData.database]),
    [['analyst', 'postgres:5432', 'warehouse']],
  );
});

test('the bi profile provisions every dashboard in sql/dashboards/, read-only, on the provisioned datasource', async () => {
  const { services, configs } = await compose();
  const provider = parse(unescape(configs['grafana-dashboards']?.content ?? '')) as { providers: { type: string; allowUiUpdates: boolean; options: { path: string } }[] };
  assert.deepEqual(provider.providers.map((p) => [p.type, p.allowUiUpdates, p.options.path]), [['file', false, '/etc/grafana/dashboards']]);
  const mounted = new Map((services.grafana?.configs ?? []).map((c) => [configs[c.source]?.file, c.target]));
  const files = (await readdir(`${ROOT}sql/dashboards`)).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  const datasource = parse(unescape(configs['grafana-warehouse']?.content ?? '')) as { datasources: { uid: string }[] };
  for (const file of files) {
    assert.equal(mounted.get(`./sql/dashboards/${file}`), `/etc/grafana/dashboards/${file}`, `${file} is provisioned`);
    const dashboard = JSON.parse(await readFile(`${ROOT}sql/dashboards/${file}`, 'utf8')) as { panels: { datasource: { uid: string } }[] };
    for (const panel of dashboard.panels) assert.equal(panel.datasource.uid, datasource.datasources[0]?.uid);
  }
});

test('the loader runs an image built once, not npm ci at every start, and no bind mount of the checkout', async () => {
  const { services } = await compose();
  const loader = services.loader as Service;
  assert.equal(loader.build, '.');
  assert.equal(loader.volumes, undefined);
  assert.doesNotMatch(JSON.stringify(loader.command), /npm (ci|install)/);
  const dockerfile = await readFile(`${ROOT}Dockerfile`, 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2, 'a build stage and a runtime stage');
  const runtime = stages[1] as string;
  assert.match(runtime, /^RUN npm ci --omit=dev --omit=optional --ignore-scripts/m, 'production dependencies only, no embedded PostgreSQL');
  assert.match(runtime, /^COPY --from=build \/app\/dist\/src \.\/dist\/src$/m);
  assert.match(runtime, /^COPY sql \.\/sql$/m, 'the migrations');
  assert.match(runtime, /^USER node$/m, 'not root');
  assert.match(runtime, /^ENTRYPOINT \["node", "dist\/src\/cli\/main\.js"\]$/m);
});

// The start script's mark of a parked loader, in a folder of the test's own instead of /tmp.
const PARKED = join(tmpdir(), `amplitude-pg-compose-test-${process.pid}`, 'parked');
after(() => rm(dirname(PARKED), { recursive: true, force: true }));

/** Runs the loader service's start script with `node dist/src/cli/main.js` exiting with `code`. */
function startScript(script: string, code: number): { exited: Promise<number | null>; stop(): void } {
  mkdirSync(dirname(PARKED), { recursive: true });
  const stand_in = unescape(script)
    .replace('node dist/src/cli/main.js load --follow --since "$LOAD_SINCE"', `sh -c 'exit ${code}'`)
    .replaceAll('/tmp/amplitude-pg-parked', PARKED);
  const child = spawn('sh', ['-c', stand_in], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  return {
    exited: new Promise((resolve) => child.on('exit', (c) => resolve(c))),
    stop: () => process.kill(-(child.pid as number), 'SIGKILL'),
  };
}

test('a configuration or credential error (exit 2) parks the loader instead of a restart loop; other exits pass through', async () => {
  const { services } = await compose();
  const loader = services.loader as Service;
  assert.equal(loader.restart, 'unless-stopped');
  assert.deepEqual(loader.entrypoint, ['sh', '-c']);
  const script = (loader.command as string[])[0] as string;
  assert.ok(script.includes('node dist/src/cli/main.js load --follow --since "$$LOAD_SINCE"'));
  for (const code of [0, 1]) {
    const run = startScript(script, code);
    assert.equal(await run.exited, code);
  }
  const parked = startScript(script, 2);
  const early = await Promise.race([parked.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 1000))]);
  parked.stop();
  assert.equal(early, 'still running', 'exit 2 must not end the container, or Docker would restart it');
  assert.ok(existsSync(PARKED), 'and marks it parked, which its healthcheck reports');
});

test('the citus profile runs a coordinator and two workers from Citus\'s image, joins them, and points the same loader at the coordinator', async () => {
  const { services } = await compose();
  const citus = Object.entries(services).filter(([, s]) => s.profiles?.includes('citus')).map(([name]) => name).sort();
  assert.deepEqual(citus, ['citus-coordinator', 'citus-join', 'citus-worker-1', 'citus-worker-2', 'loader-citus']);
  for (const name of ['citus-coordinator', 'citus-worker-1', 'citus-worker-2', 'citus-join']) assert.match(services[name]?.image ?? '', /^citusdata\/citus:\d+\.\d+\.\d+$/);
  const join = (services['citus-join']?.command as string[]).join(' ');
  for (const node of ['citus-worker-1', 'citus-worker-2']) assert.ok(join.includes(`citus_add_node('${node}', 5432)`), node);
  const loader = services['loader-citus'] as Service;
  assert.deepEqual(loader.command, services.loader?.command, 'the same start script, parking on exit 2');
  assert.match(loader.environment?.DATABASE_URL ?? '', /@citus-coordinator:5432\/warehouse$/);
  assert.deepEqual(services['citus-coordinator']?.configs, services.postgres?.configs, 'the same analyst login');
});

test('a plain `docker compose up` needs no variable of a profile that is off; Grafana refuses to start without its password', async () => {
  const text = await readFile(`${ROOT}docker-compose.yml`, 'utf8');
  const required = [...text.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]);
  assert.ok(!required.includes('GRAFANA_ADMIN_PASSWORD'), 'compose interpolates every service, profiles off included');
  const { services } = await compose();
  const grafana = services.grafana as Service;
  const script = unescape((grafana.command as string[])[0] as string);
  const run = (password: string) =>
    new Promise<number | null>((resolve) => {
      const child = spawn('sh', ['-c', script.replace('exec /run.sh', 'exit 0')], { env: { PATH: process.env.PATH ?? '', GF_SECURITY_ADMIN_PASSWORD: password }, stdio: 'ignore' });
      child.on('exit', resolve);
    });
  assert.equal(await run(''), 2, 'no admin/admin Grafana');
  assert.equal(await run('chosen'), 0);
  assert.match((services.postgres?.ports ?? [])[0] ?? '', /\$\{WAREHOUSE_PORT:-5432\}/, 'the warehouse port is configurable');
});

test('a parked loader is reported unhealthy; a .dockerignore keeps the checkout\'s dependencies, data and secrets out of the build', async () => {
  const { services } = await compose();
  for (const name of ['loader', 'loader-citus']) {
    const check = services[name]?.healthcheck?.test ?? [];
    assert.deepEqual(check, ['CMD-SHELL', 'test ! -e /tmp/amplitude-pg-parked'], name);
  }
  const script = (services.loader?.command as string[])[0] as string;
  assert.match(unescape(script), /touch \/tmp\/amplitude-pg-parked\n\s*exec sleep infinity/, 'parking marks the container');
  assert.match(unescape(script), /^rm -f \/tmp\/amplitude-pg-parked$/m, 'a restart clears the mark');
  const ignore = (await readFile(`${ROOT}.dockerignore`, 'utf8')).split('\n');
  for (const entry of ['node_modules', 'dist', '.amplitude-pg', '.env', '.git']) assert.ok(ignore.includes(entry), entry);
  for (const needed of ['src', 'sql', 'test', 'bench']) assert.ok(!ignore.includes(needed), `${needed} is needed by the Dockerfile`);
});
