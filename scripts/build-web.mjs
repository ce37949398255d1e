// Copies the technician page's static files next to its compiled scripts (dist/web/, served by the agent at
// `/` and `/assets/`): its HTML and CSS, and uPlot from node_modules, so a running agent needs no CDN, no
// network and not even node_modules/uplot. Run by `npm run build` after `tsc -p web/tsconfig.json`.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
mkdirSync(out, { recursive: true });
const files = [
  ['web/index.html', 'index.html'],
  ['web/page.css', 'page.css'],
  ['node_modules/uplot/dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
  ['node_modules/uplot/dist/uPlot.min.css', 'uPlot.min.css'],
];
for (const [from, to] of files) copyFileSync(join(root, from), join(out, to));
console.log(`technician page: ${files.length} static files copied to dist/web/`);
