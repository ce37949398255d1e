import { Counter, Gauge, type Registry } from 'prom-client';

/** The deployment's series, on the agent's registry (agent/metrics.ts renders them with the rest). */
export class DeploymentMetrics {
  readonly active: Gauge<'model' | 'version' | 'provider'>;
  readonly shadow: Counter<'model' | 'version' | 'result'>;
  readonly swaps: Counter<'model' | 'why'>;
  readonly fallbacks: Counter<'model' | 'from' | 'to'>;
  readonly accuracy: Gauge<'model' | 'version' | 'role'>;
  readonly ngPrecision: Gauge<'model' | 'version' | 'role'>;
  readonly ngRecall: Gauge<'model' | 'version' | 'role'>;
  readonly outcomes: Gauge<'model' | 'version' | 'role'>;

  constructor(registry: Registry) {
    this.active = new Gauge({
      name: 'eva_model_active_info',
      help: 'The version and execution provider judging the line (1 for the active one per model)',
      labelNames: ['model', 'version', 'provider'],
      registers: [registry],
    });
    this.shadow = new Counter({
      name: 'eva_shadow_frames_total',
      help: 'Frames given to a shadow version, by result: agree, disagree, error, skipped (shadow busy)',
      labelNames: ['model', 'version', 'result'],
      registers: [registry],
    });
    this.swaps = new Counter({
      name: 'eva_model_swaps_total',
      help: 'Active version changes: promote, rollback, auto-rollback',
      labelNames: ['model', 'why'],
      registers: [registry],
    });
    this.fallbacks = new Counter({
      name: 'eva_provider_fallbacks_total',
      help: 'Execution providers that failed at run time and were replaced by the next one',
      labelNames: ['model', 'from', 'to'],
      registers: [registry],
    });
    const perVersion = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['model', 'version', 'role'], registers: [registry] });
    this.accuracy = perVersion(
      'eva_model_accuracy',
      'Right verdicts over plant outcomes, per version; role active (its decisions) or shadow (its shadow results)',
    );
    this.ngPrecision = perVersion('eva_model_ng_precision', 'NG verdicts that plant outcomes confirmed NG');
    this.ngRecall = perVersion(
      'eva_model_ng_recall',
      'NG parts (by plant outcomes) that the version called NG',
    );
    this.outcomes = perVersion('eva_model_outcomes', 'Plant outcomes scored against the version');
  }
}
