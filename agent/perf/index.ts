export type { AgentRunSpec } from './agent-run.js';
export { type BenchBroker, freePort, startMosquitto, useBroker, waitFor } from './broker.js';
export type { AgentRunFigures, PlainFigures } from './figures.js';
export type { LimitFigures } from './limit.js';
export {
  type BenchReport,
  machine,
  SUMMARY_COLUMNS,
  toMarkdown,
  writeReport,
} from './report.js';
export { runSuite } from './run-suite.js';
export type { CaseFigures, CaseSpec, SuiteOptions } from './suite.js';
