export { defaultWebDir, PageAssets } from './assets.js';
export { type FocusMeter, focusOf, measureFocus } from './focus-meter.js';
export { JUDGED_MIN_INTERVAL_MS, type JudgedFrame, JudgedFrames } from './judged-frames.js';
export { type DecisionSummary, LiveEvents, MAX_EVENT_CLIENTS } from './live-events.js';
export { MAX_MJPEG_STREAMS, type PageDeps, pageRoutes } from './routes.js';
export { type AimableCamera, SNAPSHOT_MIN_INTERVAL_MS, type Snapshot, Snapshots } from './snapshots.js';
