import { agentError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { AuditLog } from '../store/index.js';
import type { RequestHandlers } from './requests.js';

declare module '../events.js' {
  interface AgentEvents {
    /** A person's verdict for a decision (a new `override`). */
    OverrideRecorded: { decisionId: string; verdict: 'OK' | 'NG' | 'UNCERTAIN' };
  }
}

/**
 * `outcome` and `override` (CONTRACT section 3): ground truth and people's verdicts, written beside the
 * decision they are about, never into it (decisions are append-only). An unknown decision id writes
 * nothing. The response says whether the row is new or an identical one was already there (`duplicate`),
 * so a redelivered or retried request is visibly not counted twice.
 */
export function auditRequestHandlers(
  audit: AuditLog,
  events?: EventBus,
): Pick<RequestHandlers, 'outcome' | 'override'> {
  return {
    outcome: async ({ decisionId, actual, source }) => {
      const o = audit.addOutcome(decisionId, actual, source);
      if (!o) throw agentError('DECISION_UNKNOWN', decisionId);
      // OutcomeRecorded is told by the audit log itself, once the row is committed (store/audit-log.ts)
      return {
        outcomeId: o.id,
        decisionId,
        actual: o.actual,
        ...(o.source !== null ? { source: o.source } : {}),
        receivedAt: o.receivedAt,
        duplicate: o.duplicate,
      };
    },
    override: async ({ decisionId, verdict, user, reason }) => {
      const o = audit.addOverride(decisionId, verdict, user, reason);
      if (!o) throw agentError('DECISION_UNKNOWN', decisionId);
      if (!o.duplicate) events?.emit('OverrideRecorded', { decisionId, verdict: o.verdict });
      return {
        overrideId: o.id,
        decisionId,
        verdict: o.verdict,
        user: o.user,
        reason: o.reason,
        receivedAt: o.receivedAt,
        duplicate: o.duplicate,
      };
    },
  };
}
