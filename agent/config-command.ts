import type { CliCommand } from './cli/index.js';
import { configJsonSchema } from './config/index.js';

/** `edge-agent config schema`: the config's JSON Schema, for editors (CONTRACT section 2). */
export const configSchemaCommand: CliCommand = {
  name: 'config schema',
  summary: "print the config's JSON Schema (for editors: yaml-language-server, VS Code)",
  async run({ ctx }) {
    ctx.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return 0;
  },
};
