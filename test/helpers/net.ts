/**
 * A free loopback port and a bounded poll: the benchmark harness (agent/perf) needs the same two helpers, so
 * the one copy lives there and tests take it from there.
 */
export { freePort, waitFor } from '../../agent/perf/index.js';
