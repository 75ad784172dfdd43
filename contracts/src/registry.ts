import type { EventDescriptor, RequestDescriptor } from './descriptor.js';
import * as identity from './identity/v1.js';
import * as policy from './policy/v1.js';
import * as approval from './approval/v1.js';
import * as credential from './credential/v1.js';
import * as proxy from './proxy/v1.js';
import * as audit from './audit/v1.js';

const modules = [identity, policy, approval, credential, proxy, audit];

function collect<T>(pred: (v: unknown) => v is T): T[] {
  return modules.flatMap((m) => Object.values(m).filter(pred));
}

function isRequest(v: unknown): v is RequestDescriptor {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'request';
}
function isEvent(v: unknown): v is EventDescriptor {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'event';
}

/** Every request subject descriptor of every family. */
export const allRequests: readonly RequestDescriptor[] = collect(isRequest);
/** Every event descriptor of every family. */
export const allEvents: readonly EventDescriptor[] = collect(isEvent);
