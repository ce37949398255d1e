import { FIGURES_DIR, readAllFigures } from './chaos-lib.js';

// Prints the last figures each chaos scenario recorded (FIGURES_DIR), one line per scenario, for
// docs/reliability.md. Run by `npm run test:chaos` after the scenarios, or alone: `npm run chaos:report`.
const all = readAllFigures();
if (all.length === 0) {
  process.stdout.write(`no chaos figures in ${FIGURES_DIR}: run npm run test:chaos first\n`);
} else {
  process.stdout.write(`chaos figures (${FIGURES_DIR}):\n`);
  for (const f of all) {
    const { scenario, scale, at, ...rest } = f as { scenario: string; scale: string; at: string };
    process.stdout.write(`| ${scenario} | ${scale} | ${at.slice(0, 16)} | ${JSON.stringify(rest)} |\n`);
  }
}
