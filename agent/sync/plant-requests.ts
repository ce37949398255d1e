import { AgentError, ErrorCodes } from '../errors.js';
import type { RequestVia } from '../store/index.js';
import type { RequestArgs, RequestName, RequestResponse } from './requests.js';

/** What plant requests are run by (the RequestRouter). */
interface Router {
  handle(name: string, body: unknown, via: RequestVia): Promise<RequestResponse>;
}

/**
 * Requests from plant systems that are not MQTT or HTTP clients (the PLC's recipe register, OPC UA methods,
 * Sparkplug commands) go through the one RequestRouter: validated by the same schemas, and written to the
 * request log with where they came from, so the audit trail shows every recipe switch and camera command
 * whoever sent it. The router is built after the line (its handlers need the cameras), hence `attach`.
 */
export class PlantRequests {
  private router: Router | undefined;

  attach(router: Router): void {
    this.router = router;
  }

  /**
   * Runs one request; resolves with its data, rejects with its coded error. The handler is called before
   * this returns (nothing awaits first), so a recipe select takes effect for the very next trigger.
   */
  run<N extends RequestName>(name: N, args: RequestArgs<N>, via: RequestVia): Promise<unknown> {
    if (!this.router) {
      return Promise.reject(new AgentError(ErrorCodes.INTERNAL, 'no request router attached (a wiring bug)'));
    }
    return this.router.handle(name, args, via).then((response) => {
      if (response.status === 'error') throw new AgentError(response.code, response.error);
      return response.data;
    });
  }
}
