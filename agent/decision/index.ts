export {
  type Evidence,
  type FrameGate,
  type Inferrer,
  type InspectionProfile,
  Inspector,
  type InspectorDeps,
} from './inspector.js';
export {
  judge,
  judgeAnomaly,
  judgeClassification,
  judgeDetection,
  type RuleOutcome,
  resolveNgClasses,
} from './rules.js';
export {
  composeDecision,
  type Decision,
  type DecisionDraft,
  type LatencyMs,
  type Verdict,
} from './types.js';
