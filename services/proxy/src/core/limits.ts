import type { AirlockConfig } from '@airlock/config';

/** `proxy.limits` with every default applied: what a stranger may hold before login, and a principal after. */
export interface Limits {
  authTimeoutMs: number;
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
  maxStartupBytes: number;
  maxLoginBodyBytes: number;
  maxBodyBytes: number;
  sessionsPerPrincipal: number;
  statementsPerPrincipal: number;
}

export const defaultLimits = {
  authTimeoutSeconds: 10,
  maxUnauthenticated: 512,
  maxUnauthenticatedPerAddress: 64,
  maxStartupBytes: 16 * 1024,
  maxLoginBodyBytes: 64 * 1024,
  maxBodyBytes: 16 * 1024 * 1024,
  sessionsPerPrincipal: 20,
  statementsPerPrincipal: 20,
} as const;

export function resolveLimits(config: AirlockConfig): Limits {
  const l = config.proxy?.limits ?? {};
  return {
    authTimeoutMs: (l.authTimeoutSeconds ?? defaultLimits.authTimeoutSeconds) * 1000,
    maxUnauthenticated: l.maxUnauthenticated ?? defaultLimits.maxUnauthenticated,
    maxUnauthenticatedPerAddress: l.maxUnauthenticatedPerAddress ?? defaultLimits.maxUnauthenticatedPerAddress,
    maxStartupBytes: l.maxStartupBytes ?? defaultLimits.maxStartupBytes,
    maxLoginBodyBytes: l.maxLoginBodyBytes ?? defaultLimits.maxLoginBodyBytes,
    maxBodyBytes: l.maxBodyBytes ?? defaultLimits.maxBodyBytes,
    sessionsPerPrincipal: l.sessionsPerPrincipal ?? defaultLimits.sessionsPerPrincipal,
    statementsPerPrincipal: l.statementsPerPrincipal ?? defaultLimits.statementsPerPrincipal,
  };
}
