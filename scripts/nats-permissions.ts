// Generates deploy/nats/permissions.conf: one NATS user per service, allowed only the subjects that service uses.
// The subjects come from contracts/ (a service serves the requests and publishes the events of its own family);
// which requests each service calls, and who reads the audit consumer, come from the usage table below,
// which test/deploy/nats-permissions.test.ts checks against the services' sources.
//
// Usage: node --import tsx scripts/nats-permissions.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  allEvents,
  allRequests,
  approvalV1,
  credentialV1,
  eventSubject,
  identityV1,
  policyV1,
  requestSubject,
  type EventDescriptor,
  type RequestDescriptor,
} from '@airlock/contracts';

export const services = ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy', 'console'] as const;
export type Service = (typeof services)[number];

/** The durable consumers of the audit service: the audit log (service.ts) and the optional forwarder (forwarder.ts). */
export const auditDurable = 'airlock-audit';
export const auditForwardDurable = 'airlock-audit-forward';

interface Usage {
  /** request subjects the service calls */
  calls: readonly RequestDescriptor[];
  /** the durable JetStream consumers it creates and reads */
  consumes?: readonly string[];
  /** follows the stream with ephemeral ordered consumers (random names), never the audit durables */
  follows?: boolean;
  /**
   * reads the whole stream with an unnamed ephemeral consumer (the server names it; a durable cannot be created this
   * way), which it reads and which expires by itself: no named consumer, no delete
   */
  scans?: boolean;
  /** events it hears as they are published (Bus.listen), without a consumer */
  listens?: readonly EventDescriptor[];
}

/** Which requests each service calls and which consumer it reads; serving and publishing follow from the family. */
export const usage: Readonly<Record<Service, Usage>> = {
  identity: { calls: [] },
  policy: { calls: [credentialV1.catalog] },
  // approvers authenticate with their own OIDC token on the approval API; submits are checked against policy's keys
  approval: { calls: [identityV1.verifyToken, policyV1.keys] },
  // a lease is minted only against a decision signed by policy (and, after an approval, a grant signed by approval)
  credential: { calls: [policyV1.keys, approvalV1.keys] },
  // verify reads the stream with an unnamed ephemeral consumer to cross-check the table against it
  audit: { calls: [identityV1.verifyToken], consumes: [auditDurable, auditForwardDurable], scans: true },
  proxy: {
    calls: [
      identityV1.verifyToken,
      policyV1.decide,
      // the MCP front door lists what a principal may do, as policy matches its rules
      policyV1.explainAccess,
      // decisions are acted on only once their signature holds
      policyV1.keys,
      approvalV1.submitApproval,
      approvalV1.getApprovalStatus,
      // the MCP front door lists a connection's tables
      credentialV1.catalog,
      credentialV1.issueLease,
      credentialV1.revokeLease,
      credentialV1.heartbeat,
      // pooled credentials whose upstream connections the proxy opens ahead of per-statement leases
      credentialV1.standby,
      // an upstream session opened under an External-OAuth lease, so that revoking the lease ends it
      credentialV1.upstreamSession,
    ],
    // a statement held for approval waits on its request's decision; reused decisions end with policy's epoch
    listens: [approvalV1.approvalDecided, policyV1.epochChanged],
  },
  // the console lists live leases and revokes one on an operator's click, and shows the live event stream
  console: { calls: [credentialV1.listLeases, credentialV1.revokeLease], follows: true },
};

/** The requests a service serves: those of its own family. */
export function served(service: Service): RequestDescriptor[] {
  return allRequests.filter((d) => d.family === service);
}

/** The events a service publishes: those of its own family. */
export function published(service: Service): EventDescriptor[] {
  return allEvents.filter((d) => d.family === service);
}

export function streamNameFor(root: string): string {
  // the same rule as streamName() in packages/runtime/src/bus.ts
  return `${root.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_EVENTS`;
}

/** The inbox prefix a service's connection uses when it logs in as its own user (Bus.connect). */
export function inboxPrefix(service: Service): string {
  return `_INBOX_${service}`;
}

export interface Permissions {
  publish: string[];
  /** publish subjects refused even where an allow pattern would match */
  denyPublish: string[];
  subscribe: string[];
  /** may answer the requests it receives (publish once to their reply subjects) */
  allowResponses: boolean;
}

export function permissionsFor(service: Service, root: string): Permissions {
  const stream = streamNameFor(root);
  const own = usage[service];
  const serves = served(service);
  const publishes = published(service);
  const publish = [
    ...own.calls.map((d) => requestSubject(root, d)),
    ...publishes.map((d) => eventSubject(root, d)),
    // jetstreamManager() reads the account info on connect
    '$JS.API.INFO',
  ];
  const durables = own.consumes ?? [];
  if (publishes.length > 0 || durables.length > 0) {
    // Bus.ensureStream: look the stream up, create it when missing; no update, purge or delete
    publish.push(`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`);
  }
  for (const c of durables) {
    publish.push(
      `$JS.API.CONSUMER.INFO.${stream}.${c}`,
      `$JS.API.CONSUMER.CREATE.${stream}.${c}`,
      // the create API with the filter subject appended (servers 2.9+)
      `$JS.API.CONSUMER.CREATE.${stream}.${c}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${c}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${c}`,
      `$JS.ACK.${stream}.${c}.>`,
    );
  }
  const denyPublish: string[] = [];
  if (own.scans) {
    publish.push(`$JS.API.STREAM.INFO.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}`, `$JS.API.CONSUMER.INFO.${stream}.*`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`);
  }
  if (own.follows) {
    // ordered consumers get generated names: allow the consumer API on the stream, but never on the audit durables
    publish.push(
      `$JS.API.STREAM.INFO.${stream}`,
      `$JS.API.CONSUMER.CREATE.${stream}`,
      `$JS.API.CONSUMER.CREATE.${stream}.>`,
      `$JS.API.CONSUMER.INFO.${stream}.*`,
      `$JS.API.CONSUMER.DELETE.${stream}.*`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    );
    for (const d of [auditDurable, auditForwardDurable]) {
      denyPublish.push(
        `$JS.API.CONSUMER.CREATE.${stream}.${d}`,
        `$JS.API.CONSUMER.CREATE.${stream}.${d}.>`,
        `$JS.API.CONSUMER.INFO.${stream}.${d}`,
        `$JS.API.CONSUMER.DELETE.${stream}.${d}`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${d}`,
        `$JS.ACK.${stream}.${d}.>`,
      );
    }
  }
  const subscribe = [
    ...serves.map((d) => `${requestSubject(root, d)} airlock-${service}`),
    ...(own.listens ?? []).map((d) => eventSubject(root, d)),
    `${inboxPrefix(service)}.>`,
  ];
  return { publish: [...new Set(publish)], denyPublish, subscribe, allowResponses: serves.length > 0 };
}

/** The environment variable the NATS server reads a service user's password from. */
export function passwordVariable(service: Service): string {
  return `AIRLOCK_NATS_${service.toUpperCase()}_PASSWORD`;
}

const q = (s: string) => JSON.stringify(s);

/** The authorization block included by deploy/nats/nats-server.conf. */
export function renderPermissions(root = 'airlock'): string {
  const lines = [
    '# Generated by scripts/nats-permissions.ts from contracts/ and its usage table. Do not edit by hand:',
    '# run `node --import tsx scripts/nats-permissions.ts` and commit the result.',
    `# Subject root: ${root}; event stream: ${streamNameFor(root)}.`,
    '# Passwords are read from the environment of nats-server (never stored here).',
    'authorization {',
    '  users = [',
  ];
  for (const service of services) {
    const p = permissionsFor(service, root);
    lines.push('    {');
    lines.push(`      user: ${q(service)}`);
    lines.push(`      password: $${passwordVariable(service)}`);
    lines.push('      permissions: {');
    lines.push('        publish: {');
    lines.push('          allow: [');
    for (const s of p.publish) lines.push(`            ${q(s)}`);
    lines.push('          ]');
    if (p.denyPublish.length > 0) {
      lines.push('          deny: [');
      for (const s of p.denyPublish) lines.push(`            ${q(s)}`);
      lines.push('          ]');
    }
    lines.push('        }');
    lines.push('        subscribe: {');
    lines.push('          allow: [');
    for (const s of p.subscribe) lines.push(`            ${q(s)}`);
    lines.push('          ]');
    lines.push('        }');
    if (p.allowResponses) lines.push('        allow_responses: true');
    lines.push('      }');
    lines.push('    }');
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}

export const permissionsPath = fileURLToPath(new URL('../deploy/nats/permissions.conf', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderPermissions();
  if (process.argv.includes('--check')) {
    if (readFileSync(permissionsPath, 'utf8') !== text) {
      console.error(`${permissionsPath} is out of date: run node --import tsx scripts/nats-permissions.ts`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(permissionsPath, text);
    console.log(`wrote ${permissionsPath}`);
  }
}
