import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startOrder } from '@airlock/runtime';
import { allServices, serviceNames, servicesNamed } from '@airlock/stack';

describe('the service registry', () => {
  it('the registry holds every service once, and airlock up starts them in the order it always has', () => {
    assert.deepEqual(allServices.map((d) => d.name), [...serviceNames]);
    assert.deepEqual(startOrder(allServices).map((d) => d.name), ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy', 'console']);
  });

  it('finds services by name, and names the ones that exist when asked for another', () => {
    assert.deepEqual(servicesNamed(['proxy', 'identity']).map((d) => d.name), ['proxy', 'identity']);
    assert.throws(() => servicesNamed(['gateway']), /no service "gateway": one of identity, policy, approval, credential, audit, proxy, console/);
  });
});
