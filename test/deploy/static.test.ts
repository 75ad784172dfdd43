// Static checks of the deployment artifacts (no Docker engine or Kubernetes here): the Dockerfile, docker-compose.yml
// and the rendered Helm chart reference only images, ports, variables, ConfigMaps and Secrets that exist, and the
// admin and masking secrets reach only the services that expand them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseConfig } from '@airlock/config';
import { chartDir, renderChart, type RenderResult } from '../../scripts/helm-render.ts';
import { passwordVariable, services, type Service } from '../../scripts/nats-permissions.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(repo, p), 'utf8');
const version = (JSON.parse(read('package.json')) as { version: string }).version;

// ---- the variables each service reads, from the sources -------------------------------------------------

interface Field {
  env: string;
  default?: string;
}

function fieldsIn(path: string): Field[] {
  const text = read(path);
  return [...text.matchAll(/env: '([A-Z0-9_]+)'([^}]*)\}/g)].map((m) => {
    const def = /default: '([^']*)'/.exec(m[2]!)?.[1];
    return { env: m[1]!, ...(def !== undefined ? { default: def } : {}) };
  });
}

const commonFields = fieldsIn('packages/runtime/src/env.ts');

function ownFields(service: Service): Field[] {
  const path = `services/${service}/src/config.ts`;
  return existsSync(join(repo, path)) ? fieldsIn(path) : [];
}

/** `${VAR}` references in the part of a config file a service expands. */
function configRefs(config: Record<string, unknown>, service: Service): string[] {
  const part = service === 'credential' ? config['connections'] : service === 'proxy' ? config['masking'] : undefined;
  return [...JSON.stringify(part ?? {}).matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!);
}

function allowedVariables(service: Service, config: Record<string, unknown>): Set<string> {
  return new Set([...commonFields.map((f) => f.env), ...ownFields(service).map((f) => f.env), ...configRefs(config, service)]);
}

/** The ports a service listens on given its environment: every `*_PORT` field, with its `*_HOST`. */
function listening(service: Service, env: Record<string, string>): Array<{ port: number; host: string }> {
  const fields = ownFields(service);
  return fields
    .filter((f) => f.env.endsWith('_PORT'))
    .map((f) => ({
      port: Number(env[f.env] ?? f.default),
      host: env[f.env.replace(/_PORT$/, '_HOST')] ?? fields.find((h) => h.env === f.env.replace(/_PORT$/, '_HOST'))?.default ?? '',
    }));
}

const adminVariables = (config: Record<string, unknown>) => new Set(configRefs(config, 'credential'));

it('derives the variable lists from the sources (not vacuously)', () => {
  assert.deepEqual(
    commonFields.map((f) => f.env).slice(0, 7),
    ['NATS_URL', 'DATABASE_URL', 'AIRLOCK_CONFIG', 'AIRLOCK_SUBJECT_ROOT', 'AIRLOCK_LOG_LEVEL', 'AIRLOCK_NATS_USER', 'AIRLOCK_NATS_PASSWORD'],
  );
  assert.deepEqual(listening('proxy', {}), [
    { port: 15432, host: '127.0.0.1' },
    { port: 8080, host: '127.0.0.1' },
  ]);
  assert.deepEqual(listening('audit', { AIRLOCK_AUDIT_HOST: '0.0.0.0' }), [{ port: 8082, host: '0.0.0.0' }]);
  assert.deepEqual(listening('approval', {}), [{ port: 8081, host: '127.0.0.1' }]);
  assert.deepEqual(listening('policy', {}), []);
});

// ---- Dockerfile -------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n').filter((l) => !l.trim().startsWith('#'));
  const args = Object.fromEntries([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const froms = lines.filter((l) => /^FROM /i.test(l)).map((l) => l.replace(/^FROM\s+/i, '').split(/\s+/)[0]!.replace(/\$\{(\w+)\}/g, (_m, n: string) => args[n] ?? ''));

  it('builds in stages from a pinned official Node image, never latest', () => {
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const image of froms) assert.match(image, /^node:\d+\.\d+\.\d+-[a-z]+-slim$/, `pinned image, got ${image}`);
  });

  it('installs with npm ci from the lockfile and compiles with tsc -b', () => {
    assert.match(text, /^RUN npm ci\b/m);
    assert.match(text, /npx tsc -b/);
    assert.doesNotMatch(text, /npm install\b/);
    assert.match(text, /npm prune --omit=dev/);
  });

  it('runs as a non-root user with the CLI as entrypoint', () => {
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    const users = [...runtime.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]!);
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0]!, /^(root|0)(:|$)/);
    assert.match(runtime, /^ENTRYPOINT \["node", "packages\/cli\/bin\/airlock\.js"\]$/m);
    assert.ok(runtime.indexOf('USER ') < runtime.indexOf('ENTRYPOINT'), 'USER comes before ENTRYPOINT');
  });

  it('creates, owned by the service user, every directory a service writes to through a compose volume', () => {
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { user?: string; volumes?: string[] }> };
    const written = new Set<string>();
    for (const svc of Object.values(compose.services)) {
      if (svc.user !== '10001:10001') continue;
      for (const v of svc.volumes ?? []) {
        const [source, target, mode] = v.split(':');
        // a named volume (not a file from the checkout) the service may write
        if (!source!.startsWith('.') && !source!.startsWith('/') && mode !== 'ro') written.add(target!);
      }
    }
    assert.deepEqual([...written], ['/var/lib/airlock']);
    for (const dir of written) {
      assert.match(runtime, new RegExp(`mkdir -p ${dir}\\b`), `${dir} exists in the image`);
      assert.match(runtime, new RegExp(`chown 10001:10001 ${dir}\\b`), `${dir} belongs to the service user`);
      assert.ok(runtime.indexOf(`chown 10001:10001 ${dir}`) < runtime.indexOf('USER '), 'made while the build is still root');
    }
  });

  it('copies every workspace the runtime imports', () => {
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    const loop = /for d in ([^;]+); do/.exec(text)?.[1]?.trim().split(/\s+/);
    assert.deepEqual(loop, workspaces);
    const ignore = read('.dockerignore').split('\n');
    for (const w of ['contracts', 'packages', 'services', 'test/snowflake-emulator']) assert.ok(!ignore.includes(w), `${w} is in the build context`);
    assert.ok(ignore.includes('**/node_modules') && ignore.includes('**/dist'));
  });
});

// ---- docker-compose.yml -----------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, any>; volumes?: Record<string, unknown>; secrets?: Record<string, unknown> };
  // the services run from the Airlock image (`run <service>`); its one-shot tls-init is checked on its own below
  const airlock = Object.entries(compose.services).filter(([, s]) => String(s.image).startsWith('airlock:') && s.command?.[0] === 'run');
  const mountedConfig = (svc: any): Record<string, unknown> => {
    const target = svc.environment['AIRLOCK_CONFIG'];
    const bind = (svc.volumes as string[]).find((v) => v.split(':')[1] === target);
    assert.ok(bind, `AIRLOCK_CONFIG ${target} is mounted`);
    const text = read(bind.split(':')[0]!.replace(/^\.\//, ''));
    parseConfig(text, bind);
    return parse(text) as Record<string, unknown>;
  };
  const interpolated = (value: unknown): string[] => [...String(value).matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!);

  it('runs each of the six services from the one image built by the Dockerfile', () => {
    assert.deepEqual(airlock.map(([n]) => n).sort(), [...services].sort());
    for (const [name, svc] of airlock) {
      assert.equal(svc.image, `airlock:${version}`);
      assert.deepEqual(svc.build, { context: '.', dockerfile: 'Dockerfile' });
      assert.deepEqual(svc.command, ['run', name]);
      assert.equal(svc.read_only, true);
      assert.equal(svc.user, '10001:10001');
    }
  });

  it('uses only pinned official images besides its own', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (String(svc.image).startsWith('airlock:')) continue;
      assert.match(String(svc.image), /^(nats|postgres):\d+\.\d+(\.\d+)?-alpine$/, `${name}: ${svc.image}`);
    }
  });

  it('gives each service only variables it reads', () => {
    for (const [name, svc] of airlock) {
      const allowed = allowedVariables(name as Service, mountedConfig(svc));
      // NODE_EXTRA_CA_CERTS is read by Node itself: the console trusts the demo certificate of the APIs it calls
      if (name === 'console') allowed.add('NODE_EXTRA_CA_CERTS');
      for (const key of Object.keys(svc.environment)) assert.ok(allowed.has(key), `${name} does not read ${key}`);
      assert.equal(svc.environment['AIRLOCK_NATS_USER'], name);
    }
  });

  it('publishes only ports the service listens on, on a non-loopback address inside the container', () => {
    const published: string[] = [];
    for (const [name, svc] of airlock) {
      const ports = listening(name as Service, svc.environment);
      for (const p of (svc.ports ?? []) as string[]) {
        const [hostIp, hostPort, containerPort] = p.split(':');
        assert.equal(hostIp, '127.0.0.1', `${name}: published on the host's loopback only`);
        const l = ports.find((x) => x.port === Number(containerPort));
        assert.ok(l, `${name} listens on ${containerPort}`);
        assert.equal(l.host, '0.0.0.0', `${name} binds ${containerPort} on the container network`);
        published.push(hostPort!);
      }
      const hc = svc.healthcheck?.test?.join(' ') as string | undefined;
      if (hc) {
        const port = Number(/127\.0\.0\.1:(\d+)\/healthz/.exec(hc)?.[1]);
        assert.ok(ports.some((x) => x.port === port), `${name} health check targets a port it listens on`);
      }
    }
    assert.deepEqual(published.sort(), ['15432', '8080', '8081', '8082', '8085']);
  });

  it('gives admin secrets to the credential container only, and the masking key to the proxy only', () => {
    const config = mountedConfig(compose.services['credential']);
    const admin = adminVariables(config);
    assert.ok(admin.has('AIRLOCK_DEMO_ADMIN_URL') && admin.has('AIRLOCK_WAREHOUSE_ADMIN_KEY'));
    const superuser = interpolated(compose.services['credential'].environment['AIRLOCK_DEMO_ADMIN_URL']);
    assert.deepEqual(superuser, ['POSTGRES_PASSWORD']);
    for (const [name, svc] of Object.entries(compose.services)) {
      const env = svc.environment ?? {};
      for (const key of Object.keys(env)) {
        if (admin.has(key)) assert.equal(name, 'credential', `${name} gets admin secret ${key}`);
        if (key === 'AIRLOCK_MASKING_KEY') assert.equal(name, 'proxy', `${name} gets the masking key`);
      }
      const uses = Object.values(env).flatMap(interpolated);
      if (uses.includes('POSTGRES_PASSWORD')) assert.ok(['postgres', 'demo-seed', 'credential'].includes(name), `${name} gets the superuser password`);
      for (const s of services) {
        if (uses.includes(passwordVariable(s))) assert.ok(name === s || name === 'nats', `${name} gets the NATS password of ${s}`);
      }
    }
    for (const s of services) {
      assert.deepEqual(interpolated(compose.services[s].environment['AIRLOCK_NATS_PASSWORD']), [passwordVariable(s)]);
      assert.ok(interpolated(compose.services['nats'].environment[passwordVariable(s)]).includes(passwordVariable(s)));
    }
  });

  it('defines every secret, volume and mounted file it references, and documents every variable it interpolates', () => {
    const docs = read('docs/deploy.md');
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const s of (svc.secrets ?? []) as Array<string | { source: string }>) {
        const source = typeof s === 'string' ? s : s.source;
        assert.ok(compose.secrets?.[source], `${name}: secret ${source} is defined`);
      }
      for (const v of (svc.volumes ?? []) as string[]) {
        const source = v.split(':')[0]!;
        if (source.startsWith('./')) assert.ok(existsSync(join(repo, source)), `${name}: ${source} exists`);
        else assert.ok(compose.volumes && source in compose.volumes, `${name}: volume ${source} is defined`);
      }
      for (const dep of Object.keys(svc.depends_on ?? {})) assert.ok(compose.services[dep], `${name} depends on ${dep}`);
      for (const v of Object.values(svc.environment ?? {}).flatMap(interpolated)) {
        assert.ok(docs.includes(`\`${v}\``), `${v} (used by ${name}) is documented in docs/deploy.md`);
      }
    }
    const seed = compose.services['demo-seed'];
    assert.deepEqual(seed.command, ['sh', '/airlock/seed.sh']);
    assert.match(read('deploy/compose/seed.sh'), /-f \/airlock\/demo\.sql/);
    assert.ok((seed.volumes as string[]).includes('./deploy/compose/demo.sql:/airlock/demo.sql:ro'));
    for (const [, svc] of airlock) assert.deepEqual(svc.depends_on['demo-seed'], { condition: 'service_completed_successfully' });
  });

  it('serves every door with TLS: a certificate generated at first start where none is given, no clear-text opt-out', () => {
    const init = compose.services['tls-init'];
    assert.equal(init.image, `airlock:${version}`);
    assert.deepEqual(init.command.slice(0, 4), ['tls', 'self-signed', '--dir', '/etc/airlock/tls']);
    const hosts = String(init.command[init.command.indexOf('--hosts') + 1]).split(',');
    // the names the doors are reached by: from the host (published on loopback) and from the other containers
    for (const h of ['localhost', '127.0.0.1', 'proxy', 'approval', 'audit', 'console']) assert.ok(hosts.includes(h), `the certificate names ${h}`);
    assert.equal(init.command[init.command.indexOf('--owner') + 1], '10001:10001');
    assert.deepEqual(init.cap_drop, ['ALL']);
    assert.deepEqual(init.cap_add, ['CHOWN'], 'root only to hand the files to the service user');
    assert.deepEqual(init.volumes, ['tls:/etc/airlock/tls']);
    for (const [name, svc] of airlock) {
      assert.deepEqual(svc.depends_on['tls-init'], { condition: 'service_completed_successfully' }, `${name} waits for the certificate`);
      const config = mountedConfig(svc) as Record<string, any>;
      assert.equal(config['proxy']['allowInsecureNonLoopback'], undefined, 'no clear-text opt-out for the proxy');
      assert.equal(config['http']['allowInsecureNonLoopback'], undefined, 'no clear-text opt-out for the HTTP APIs');
      assert.deepEqual(config['proxy']['tls'], { certPath: '/etc/airlock/tls/tls.crt', keyPath: '/etc/airlock/tls/tls.key' });
      assert.deepEqual(config['http']['tls'], { certPath: '/etc/airlock/tls/tls.crt', keyPath: '/etc/airlock/tls/tls.key' });
      const serves = (svc.ports ?? []).length > 0;
      assert.equal((svc.volumes as string[]).includes('tls:/etc/airlock/tls:ro'), serves, `${name}: the certificate is mounted read-only where a door is served, and only there`);
      const hc = svc.healthcheck?.test?.join(' ') as string | undefined;
      if (serves && name !== 'identity') {
        assert.match(hc ?? '', /https:\/\/127\.0\.0\.1:\d+\/healthz/, `${name}: the health check speaks HTTPS`);
        assert.match(hc ?? '', /ca: require\('fs'\)\.readFileSync\('\/etc\/airlock\/tls\/tls\.crt'\)/, `${name}: and verifies the certificate`);
      }
      for (const [key, value] of Object.entries(svc.environment as Record<string, string>)) {
        if (/_URL$/.test(key) && /^http:/.test(value)) assert.fail(`${name}: ${key} calls a door in clear text (${value})`);
      }
    }
  });
});

// ---- Helm chart -------------------------------------------------------------------------------------------

describe('Helm chart deploy/helm/airlock (rendered by scripts/helm-render.ts)', () => {
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, any>;
  const rendered = renderChart(chartDir);
  const of = (kind: string) => rendered.documents.filter((d) => d.doc['kind'] === kind).map((d) => d.doc);
  const component = (doc: Record<string, any>) => doc['metadata']['labels']['app.kubernetes.io/component'] as Service;

  it('renders without missing values into YAML documents of the expected kinds', () => {
    assert.deepEqual(rendered.problems, []);
    assert.deepEqual(of('Deployment').map(component).sort(), [...services].sort());
    assert.deepEqual(of('HorizontalPodAutoscaler').map(component).sort(), [...services].sort());
    assert.deepEqual(of('Service').map(component).sort(), ['approval', 'audit', 'console', 'proxy']);
    assert.equal(of('ConfigMap').length, 1);
    assert.deepEqual(of('Secret').map((d) => d['metadata']['name']), ['airlock-tls'], 'only the demo certificate: every other Secret is given');
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>;
    assert.equal(chart['appVersion'], version);
  });

  it('ships a config file that the config loader accepts', () => {
    const text = of('ConfigMap')[0]!['data']['airlock.yaml'] as string;
    parseConfig(text, 'configmap');
  });

  it('references only its own image, existing ports, variables, ConfigMaps and Secrets', () => {
    const configMaps = new Set(of('ConfigMap').map((d) => d['metadata']['name']));
    const config = parse(of('ConfigMap')[0]!['data']['airlock.yaml']) as Record<string, unknown>;
    const secrets = new Set([
      ...of('Secret').map((d) => d['metadata']['name']),
      values['nats']['credentialsSecret'],
      values['postgres']['existingSecret'],
      values['adminSecret']['name'],
      values['maskingSecret']['name'],
      values['tls']['existingSecret'],
      // existing Secrets a service's signing keys come from (values: services.<name>.secretEnv)
      ...Object.values(values['services'] as Record<string, { secretEnv?: Array<{ secret: string }> }>).flatMap((svc) => (svc.secretEnv ?? []).map((e) => e.secret)),
    ]);
    for (const d of of('Deployment')) {
      const name = component(d);
      const pod = d['spec']['template']['spec'];
      assert.deepEqual(d['spec']['selector']['matchLabels'], { 'app.kubernetes.io/instance': 'airlock', 'app.kubernetes.io/component': name });
      assert.equal(pod['securityContext']['runAsNonRoot'], true);
      assert.equal(pod['automountServiceAccountToken'], false);
      const [c, ...more] = pod['containers'] as Array<Record<string, any>>;
      assert.equal(more.length, 0);
      assert.equal(c!['image'], `airlock:${version}`);
      assert.deepEqual(c!['args'], ['run', name]);
      assert.equal(c!['securityContext']['readOnlyRootFilesystem'], true);
      assert.equal(c!['securityContext']['allowPrivilegeEscalation'], false);
      assert.ok(c!['resources']['requests']['cpu'] && c!['resources']['requests']['memory'], `${name} requests resources`);
      const allowed = allowedVariables(name, config);
      // NODE_EXTRA_CA_CERTS is read by Node itself: the console trusts the CA of the certificate the APIs serve
      if (name === 'console') allowed.add('NODE_EXTRA_CA_CERTS');
      const env: Record<string, string> = {};
      for (const e of c!['env'] as Array<Record<string, any>>) {
        assert.ok(allowed.has(e['name']), `${name} does not read ${e['name']}`);
        if (typeof e['value'] === 'string') env[e['name']] = e['value'];
        const ref = e['valueFrom']?.['secretKeyRef'];
        if (ref) assert.ok(secrets.has(ref['name']), `${name}: Secret ${ref['name']} exists`);
        if (ref?.['name'] === values['nats']['credentialsSecret']) assert.equal(ref['key'], name, `${name} reads only its own NATS password`);
        if (ref?.['name'] === values['maskingSecret']['name']) assert.equal(name, 'proxy', `${name} gets the masking key`);
      }
      assert.equal(env['AIRLOCK_NATS_USER'], name);
      assert.equal(env['AIRLOCK_CONFIG'], '/etc/airlock/config/airlock.yaml');
      for (const f of (c!['envFrom'] ?? []) as Array<Record<string, any>>) {
        assert.ok(secrets.has(f['secretRef']['name']));
        assert.equal(f['secretRef']['name'], values['adminSecret']['name']);
        assert.equal(name, 'credential', `${name} gets the admin secret`);
      }
      const ports = listening(name, env);
      for (const p of (c!['ports'] ?? []) as Array<Record<string, any>>) {
        const l = ports.find((x) => x.port === p['containerPort']);
        assert.ok(l, `${name} listens on ${p['containerPort']}`);
        assert.equal(l.host, '0.0.0.0');
      }
      for (const probe of [c!['readinessProbe'], c!['livenessProbe']].filter(Boolean)) {
        assert.ok((c!['ports'] as Array<Record<string, any>>).some((p) => p['name'] === probe['httpGet']['port']), `${name} probes a declared port`);
        assert.equal(probe['httpGet']['path'], '/healthz');
      }
      const volumes = pod['volumes'] as Array<Record<string, any>>;
      for (const v of volumes) {
        if (v['configMap']) assert.ok(configMaps.has(v['configMap']['name']));
        if (v['secret']) assert.ok(secrets.has(v['secret']['secretName']));
      }
      for (const m of c!['volumeMounts'] as Array<Record<string, any>>) assert.ok(volumes.some((v) => v['name'] === m['name']));
      assert.ok(String(env['AIRLOCK_CONFIG']).startsWith((c!['volumeMounts'] as Array<Record<string, any>>).find((m) => m['name'] === 'config')!['mountPath']));
    }
    assert.ok(of('Deployment').some((d) => component(d) === 'credential' && d['spec']['template']['spec']['containers'][0]['envFrom']));
    assert.ok(of('Deployment').some((d) => component(d) === 'proxy' && d['spec']['template']['spec']['containers'][0]['env'].some((e: any) => e['name'] === 'AIRLOCK_MASKING_KEY')));
    const deployments = new Map(of('Deployment').map((d) => [d['metadata']['name'], d]));
    for (const s of of('Service')) {
      const d = deployments.get(s['metadata']['name']);
      assert.ok(d, `Service ${s['metadata']['name']} selects a Deployment`);
      assert.deepEqual(s['spec']['selector'], d['spec']['selector']['matchLabels']);
      const names = (d['spec']['template']['spec']['containers'][0]['ports'] as Array<Record<string, any>>).map((p) => p['name']);
      for (const p of s['spec']['ports']) assert.ok(names.includes(p['targetPort']), `${s['metadata']['name']} targets port ${p['targetPort']}`);
    }
    for (const h of of('HorizontalPodAutoscaler')) {
      assert.ok(deployments.has(h['spec']['scaleTargetRef']['name']));
      assert.ok(h['spec']['minReplicas'] >= 1 && h['spec']['maxReplicas'] >= h['spec']['minReplicas']);
    }
  });

  it('serves every door with TLS: one demo CA and certificate generated where no Secret is given, no clear-text opt-out', () => {
    const config = parse(of('ConfigMap')[0]!['data']['airlock.yaml']) as Record<string, any>;
    const paths = { certPath: '/etc/airlock/tls/tls.crt', keyPath: '/etc/airlock/tls/tls.key' };
    assert.deepEqual(config['proxy']['tls'], paths);
    assert.deepEqual(config['http']['tls'], paths);
    assert.equal(config['proxy']['allowInsecureNonLoopback'], undefined);
    assert.equal(config['http']['allowInsecureNonLoopback'], undefined);
    assert.equal(values['tls']['existingSecret'], '', 'by default the chart generates the demo certificate');
    /** The generated Secret: a CA, and a certificate it issued for every door's Service names, with its key. */
    const checkGenerated = (secret: Record<string, any>, doors: Service[], release: string, namespace: string) => {
      assert.equal(secret['metadata']['name'], `${release}-tls`);
      assert.equal(secret['type'], 'kubernetes.io/tls');
      assert.equal(secret['metadata']['annotations']['helm.sh/resource-policy'], 'keep', 'kept across upgrades and deletes');
      assert.deepEqual(Object.keys(secret['data']).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
      const pem = (key: string) => Buffer.from(secret['data'][key] as string, 'base64').toString('utf8');
      const ca = new X509Certificate(pem('ca.crt'));
      const cert = new X509Certificate(pem('tls.crt'));
      assert.equal(ca.ca, true);
      assert.equal(cert.ca, false);
      assert.equal(cert.checkIssued(ca), true, 'the certificate is issued by the CA');
      assert.equal(cert.verify(ca.publicKey), true, "and signed with the CA's key");
      assert.equal(ca.verify(cert.publicKey), false);
      assert.equal(cert.checkPrivateKey(createPrivateKey(pem('tls.key'))), true, 'tls.key is the key of tls.crt');
      assert.equal(ca.checkPrivateKey(createPrivateKey(pem('tls.key'))), false, "the CA's key is not shipped");
      const sans = cert.subjectAltName!.split(', ');
      const expected = ['DNS:localhost', 'IP Address:127.0.0.1', ...doors.flatMap((n) => [`DNS:${release}-${n}`, `DNS:${release}-${n}.${namespace}.svc`])];
      assert.deepEqual([...sans].sort(), expected.sort());
    };
    const check = (result: RenderResult, secret: string | undefined, release = 'airlock', namespace = 'default') => {
      assert.deepEqual(result.problems, []);
      const docs = result.documents.filter((d) => d.doc['kind'] === 'Deployment').map((d) => d.doc);
      const secrets = result.documents.filter((d) => d.doc['kind'] === 'Secret').map((d) => d.doc);
      const doors = docs.filter((d) => (d['spec']['template']['spec']['containers'][0]['ports'] ?? []).length > 0);
      assert.deepEqual(doors.map(component).sort(), ['approval', 'audit', 'console', 'proxy']);
      if (secret) assert.deepEqual(secrets, [], 'a given certificate is never replaced');
      else {
        assert.equal(secrets.length, 1, 'one certificate for every door');
        checkGenerated(secrets[0]!, doors.map(component), release, namespace);
      }
      for (const d of docs) {
        const name = component(d);
        const pod = d['spec']['template']['spec'];
        const c = pod['containers'][0] as Record<string, any>;
        const serves = doors.includes(d);
        assert.equal(pod['initContainers'], undefined, `${name}: no certificate is made in the pod`);
        const mount = (c['volumeMounts'] as Array<Record<string, any>>).find((m) => m['name'] === 'tls');
        assert.equal(Boolean(mount), serves, `${name}: the certificate is mounted where a door is served, and only there`);
        if (!serves) continue;
        assert.deepEqual(mount, { name: 'tls', mountPath: '/etc/airlock/tls', readOnly: true });
        for (const probe of [c['readinessProbe'], c['livenessProbe']]) assert.equal(probe['httpGet']['scheme'], 'HTTPS', `${name} probes over HTTPS`);
        const volume = (pod['volumes'] as Array<Record<string, any>>).find((v) => v['name'] === 'tls')!;
        assert.deepEqual(volume, { name: 'tls', secret: { secretName: secret ?? `${release}-tls` } });
        const env = Object.fromEntries((c['env'] as Array<Record<string, any>>).map((e) => [e['name'], e['value']]));
        for (const [key, value] of Object.entries(env)) {
          if (/_URL$/.test(key) && /^http:/.test(String(value))) assert.fail(`${name}: ${key} calls a door in clear text (${value})`);
        }
        // the console trusts the given certificate itself, or the CA that issued the generated one
        const trusted = secret ? '/etc/airlock/tls/tls.crt' : '/etc/airlock/tls/ca.crt';
        assert.equal(env['NODE_EXTRA_CA_CERTS'], name === 'console' ? trusted : undefined);
      }
    };
    check(rendered, undefined);
    check(renderChart(chartDir, { releaseName: 'al', namespace: 'sec' }), undefined, 'al', 'sec');
    check(renderChart(chartDir, { values: { tls: { existingSecret: 'airlock-tls' } } }), 'airlock-tls');
  });

  it('makes the state database Secret from postgres.url when no existing Secret is named', () => {
    const r = renderChart(chartDir, { values: { postgres: { existingSecret: '', url: 'postgres://airlock@db:5432/airlock' } }, releaseName: 'al' });
    assert.deepEqual(r.problems, []);
    const secret = r.documents.find((d) => d.doc['kind'] === 'Secret' && d.file === 'postgres-secret.yaml')!.doc;
    assert.equal(secret['metadata']['name'], 'al-postgres');
    assert.deepEqual(secret['stringData'], { url: 'postgres://airlock@db:5432/airlock' });
    for (const d of r.documents.filter((x) => x.doc['kind'] === 'Deployment')) {
      const ref = d.doc['spec']['template']['spec']['containers'][0]['env'].find((e: any) => e['name'] === 'DATABASE_URL')['valueFrom']['secretKeyRef'];
      assert.deepEqual(ref, { name: 'al-postgres', key: 'url' });
    }
  });

  it('the renderer refuses templates outside its subset and reports missing values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-chart-'));
    try {
      cpSync(chartDir, dir, { recursive: true });
      writeFileSync(join(dir, 'templates', 'extra.yaml'), 'a: {{ upper .Values.x }}\n');
      assert.throws(() => renderChart(dir), /function "upper" is outside the supported template subset/);
      writeFileSync(join(dir, 'templates', 'extra.yaml'), 'a: {{ .Values.nothing.here }}\n');
      assert.deepEqual(renderChart(dir).problems, ['extra.yaml: {{ .Values.nothing.here }} has no value']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
