import { identityV1 } from '@airlock/contracts';
import { AirlockError, type Bus, type Counter, type Logger } from '@airlock/runtime';
import type { TokenVerifier } from '../verifier.js';

/** `identity.v1.verify`: a bearer token to a principal, for the audience of the door it was presented at; each outcome an event. */
export function serveVerify(bus: Bus, parts: { verifier: TokenVerifier; verifications: Counter<'outcome'>; logger: Logger }): void {
  const { verifier, verifications, logger } = parts;
  bus.serve(identityV1.verifyToken, async (req, ctx) => {
    try {
      const { principal, expiresAt } = await verifier.verify(req.token, req.audience, req.door, req.recheck === true);
      verifications.inc({ outcome: 'ok' });
      await bus.publish(
        identityV1.tokenVerified,
        { principal, requestId: ctx.requestId, ...(req.sessionId ? { sessionId: req.sessionId } : {}), ...(req.frontend ? { frontend: req.frontend } : {}) },
        ctx,
      );
      return { principal, expiresAt: expiresAt.toISOString() };
    } catch (err) {
      if (err instanceof AirlockError && err.code.startsWith('identity.')) {
        verifications.inc({ outcome: err.code });
        logger.info({ code: err.code, requestId: ctx.requestId }, 'token refused');
        await bus.publish(
          identityV1.tokenRefused,
          {
            code: err.code,
            reason: err.message,
            requestId: ctx.requestId,
            ...(req.sessionId ? { sessionId: req.sessionId } : {}),
            ...(req.frontend ? { frontend: req.frontend } : {}),
          },
          ctx,
        );
      }
      throw err;
    }
  });
}
