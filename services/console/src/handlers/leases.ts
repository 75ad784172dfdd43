import type { FastifyInstance } from 'fastify';
import { credentialV1, type Principal } from '@airlock/contracts';
import { AirlockError, newContext } from '@airlock/runtime';
import { leaseList, leasesPage } from '../views/leases.js';
import type { ConsoleWeb } from '../web.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The admin's pages: live leases and revoking one. Both ask the credential service over the bus (`list-leases`,
 * `revoke`): the lease table is its own, and revocation there is the one path that ends sessions and drops the login.
 */
export function leaseRoutes(http: FastifyInstance, web: ConsoleWeb): void {
  const live = async () => (await web.bus.call(credentialV1.listLeases, {}, newContext())).leases;
  http.get('/leases', web.withRole('admin', async (req, reply, s) => web.sendPage(reply, leasesPage(s.viewer, await live(), web.takeFlash(req, reply)))));
  http.get('/leases/list', web.withRole('admin', async (_req, reply, s) => web.sendPage(reply, leaseList(await live(), s.viewer.csrf))));
  http.post(
    '/leases/:id/revoke',
    web.withRole('admin', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      if (!uuid.test(id)) throw new AirlockError('runtime.invalid_request', 'a lease id is a UUID');
      const who: Principal = s.session.principal;
      // the reason travels into the credential.v1.revoked event: the audit log names who revoked it
      const reason = `revoked from the console by ${who.subject} (${who.issuer})`;
      try {
        const res = await web.bus.call(credentialV1.revokeLease, { leaseId: id, reason }, newContext());
        web.logger.info({ leaseId: id, state: res.state, by: who.subject }, 'lease revoked from the console');
        return web.redirectWithFlash(reply, '/leases', { kind: res.state === 'revoked' ? 'ok' : 'error', text: `Lease ${id.slice(0, 8)}: ${res.state}.` });
      } catch (err) {
        if (!(err instanceof AirlockError)) throw err;
        return web.redirectWithFlash(reply, '/leases', { kind: 'error', text: err.message });
      }
    }),
  );
}
