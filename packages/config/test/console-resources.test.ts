// The resource the console asks its OIDC IdP an access token for, per API, is the audience that API takes from the
// console's issuer: the two can never name different things.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { consoleResource, type AirlockConfig, type Issuer } from '../src/index.js';

const idp = 'https://idp.example.test';

/** The parts of a config the resources depend on. */
function config(o: { issuer?: Partial<Issuer>; approval?: string; audit?: string; consoleIssuer?: string }): AirlockConfig {
  return {
    identity: { issuers: o.issuer ? [{ issuer: idp, audiences: ['airlock'], ...o.issuer }] : [] },
    console: { oidc: { issuer: o.consoleIssuer ?? idp, clientId: 'console', redirectUri: 'https://console.example.test/auth/oidc/callback' } },
    ...(o.approval ? { approval: { audience: o.approval } } : {}),
    ...(o.audit ? { audit: { audience: o.audit } } : {}),
  } as unknown as AirlockConfig;
}

describe('consoleResource', () => {
  const cases: Array<{ why: string; cfg: AirlockConfig; approval: string; audit: string }> = [
    { why: 'nothing configured: the APIs\' default audiences, their default URLs', cfg: config({}), approval: 'http://127.0.0.1:8081', audit: 'http://127.0.0.1:8082' },
    {
      why: 'the APIs\' configured audiences',
      cfg: config({ issuer: { audiences: ['https://approval.example.test', 'https://audit.example.test'] }, approval: 'https://approval.example.test', audit: 'https://audit.example.test' }),
      approval: 'https://approval.example.test',
      audit: 'https://audit.example.test',
    },
    {
      why: 'the console issuer\'s own doors',
      cfg: config({ issuer: { audiences: ['a', 'b'], doors: { approval: 'urn:approval', audit: 'urn:audit' } }, approval: 'https://approval.example.test' }),
      approval: 'urn:approval',
      audit: 'urn:audit',
    },
    {
      why: 'doors of another issuer do not apply',
      cfg: config({ issuer: { doors: { approval: 'urn:approval' } }, consoleIssuer: 'https://other.example.test', approval: 'https://approval.example.test' }),
      approval: 'https://approval.example.test',
      audit: 'http://127.0.0.1:8082',
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      assert.deepEqual([consoleResource(c.cfg, 'approval'), consoleResource(c.cfg, 'audit')], [c.approval, c.audit]);
    });
  }
});
