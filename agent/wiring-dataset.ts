import type { Writable } from 'node:stream';
import { datasetPaths, exportDataset, HardExampleStore } from './dataset/index.js';
import type { DatasetDeps } from './http/index.js';
import type { DecisionStore, Storage } from './store/index.js';
import type { Kernel } from './wiring.js';

/**
 * The dataset side (part of the composition root): the hard-example store beside the decision store, and
 * the export behind `GET /api/dataset/export` on the agent's own connection.
 */
export function buildDataset(k: Kernel, parts: { store: DecisionStore; storage: Storage }) {
  const { config } = k;
  const paths = datasetPaths(config);
  const hardExamples = new HardExampleStore({
    connection: parts.store,
    dir: paths.hardExamplesDir,
    imagesDir: paths.imagesDir,
    options: config.store.hardExamples,
    budget: () => parts.storage.budget,
    cameras: config.cameras.map((c) => c.id),
    events: k.events,
    clock: k.clock,
    log: k.log.child({ module: 'hard-examples' }),
  });
  const dataset: DatasetDeps = {
    cameras: () => config.cameras.map((c) => c.id),
    export: (req, out: Writable) => {
      const camera = config.cameras.find((c) => c.id === req.cameraId);
      return exportDataset(
        {
          db: parts.store.db,
          agentId: config.agent.id,
          ...paths,
          rules: camera?.rules ?? { minScore: 0.5, uncertainBelow: 0.2 },
        },
        req,
        out,
      );
    },
  };
  return { hardExamples, dataset };
}
