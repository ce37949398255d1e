import type { SourceConfig } from '../config/index.js';
import type { Clock } from '../service.js';
import { FolderSource } from './folder-source.js';
import type { FrameSource } from './frame.js';
import { SyntheticSource } from './synthetic-source.js';

export { Camera, type CameraShot, type CameraState, type CameraStatus, type ShotHandler } from './camera.js';
export { FolderSource } from './folder-source.js';
export type { Frame, FrameSource } from './frame.js';
export { SyntheticSource } from './synthetic-source.js';

export function createSource(config: SourceConfig, clock: Clock): FrameSource {
  switch (config.type) {
    case 'folder':
      return new FolderSource(config.path, config.loop, config.pollMs, clock);
    case 'synthetic':
      return new SyntheticSource(config.width, config.height, config.fps, clock);
  }
}
