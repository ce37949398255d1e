import { dirname, join } from 'node:path';
import type { AgentConfig } from '../config/index.js';

/** Where the store keeps images and hard examples: beside the database unless `store.imagesDir` is set. */
export function datasetPaths(config: Pick<AgentConfig, 'store'>): {
  imagesDir: string;
  hardExamplesDir: string;
} {
  const dir = dirname(config.store.path);
  return {
    imagesDir: config.store.imagesDir ?? join(dir, 'images'),
    hardExamplesDir: join(dir, 'hard-examples'),
  };
}
