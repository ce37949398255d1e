import { z } from 'zod';

/**
 * One camera's PLC link over Modbus TCP (the agent is the client): the camera schema's `plc` block. It lives
 * in config/ with the rest of agent.yaml's schema, so config depends on no other folder and agent/plc reads
 * its types from config like every other part. The register map is documented in docs/plc.md.
 */

const address = z.number().int().min(0).max(65_535);
const bitTable = z.enum(['discrete', 'coil']);

const partPresentTrigger = z.strictObject({
  mode: z.literal('partPresent'),
  // a rising edge is a trigger; the PLC must hold it for a few poll periods (see docs/plc.md)
  table: bitTable.default('discrete'),
  address: address.default(0),
});

const triggerRegisterTrigger = z.strictObject({
  mode: z.literal('triggerRegister'),
  // holding register the PLC increments once per part; any new value is a trigger
  address: address.default(0),
});

const partIdSchema = z
  .strictObject({
    address,
    count: z.number().int().min(1).max(64).default(8),
    // ascii: two characters per register, high byte first; uint32: high word first
    format: z.enum(['ascii', 'uint16', 'uint32']).default('ascii'),
    // some PLCs (Siemens via some gateways, Allen-Bradley) put the first character in the low byte
    swapBytes: z.boolean().default(false),
  })
  .refine((p) => p.format === 'ascii' || p.count === (p.format === 'uint16' ? 1 : 2), {
    message: 'count must be 1 for uint16 and 2 for uint32',
    path: ['count'],
  });

const outputsSchema = z.strictObject({
  // coil: write single coils (FC5); holding: write 0/1 into holding registers (FC6)
  table: z.enum(['coil', 'holding']).default('coil'),
  ok: address.default(0),
  ng: address.default(1),
  resultValid: address.default(2),
  // holding register: the trigger ack, the acquisition id (or the echoed counter) written at trigger time
  acquisitionId: address.default(100),
  // holding register: the acquisition id the posted result belongs to, for PLCs that match by id
  resultId: address.optional(),
});

const resultAckSchema = z.strictObject({
  table: bitTable.default('discrete'),
  address,
});

// Recipes (docs/recipes.md): the PLC selects the product (Cognex's Job Load, LandingEdge's sub-configuration
// index) by writing a recipe number; the agent echoes the active one back
const recipeRegisterSchema = z.strictObject({
  // holding register the PLC writes the wanted recipe's number into; 0 = no request
  address,
  // holding register the agent writes the active recipe's number into
  echo: address,
  // holding register: 0 = the echo is what was asked, 1 = changing over, 2 = refused (docs/recipes.md)
  status: address.optional(),
});

const defaultTrigger = partPresentTrigger.parse({ mode: 'partPresent' });

export const plcConfigSchema = z
  .strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535).default(502),
    unitId: z.number().int().min(0).max(255).default(1),
    pollMs: z.number().int().min(5).max(1_000).default(20),
    // per Modbus request and per connect attempt
    timeoutMs: z.number().int().min(20).max(30_000).default(500),
    reconnectMinMs: z.number().int().positive().default(500),
    reconnectMaxMs: z.number().int().positive().default(10_000),
    trigger: z
      .discriminatedUnion('mode', [partPresentTrigger, triggerRegisterTrigger])
      .default(defaultTrigger),
    partId: partIdSchema.optional(),
    outputs: outputsSchema.default(outputsSchema.parse({})),
    // without an ack, resultValid is a pulse of this length; with one, this bounds how long we wait for it
    resultAck: resultAckSchema.optional(),
    resultValidMs: z.number().int().min(10).max(60_000).default(100),
    // how a model's UNCERTAIN reaches the line; ERROR and degraded fallbacks are always NG
    uncertainAs: z.enum(['ng', 'ok']).default('ng'),
    // triggers judged at once; one more is an overrun and gets an NG without a capture
    maxInFlight: z.number().int().min(1).max(64).default(4),
    // finished results waiting for the PLC to take them (Cognex buffers 8): a slow result ack delays the
    // posting, never the next trigger; one more finished result than this is an overrun
    resultBuffer: z.number().int().min(1).max(64).default(8),
    // the recipe register pair (docs/recipes.md); off unless set
    recipe: recipeRegisterSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.reconnectMinMs > c.reconnectMaxMs) {
      ctx.addIssue({ code: 'custom', message: 'must not exceed reconnectMaxMs', path: ['reconnectMinMs'] });
    }
    for (const [key, addr] of duplicateHoldingRegisters(c)) {
      ctx.addIssue({ code: 'custom', message: `holding register ${addr} is used twice`, path: key });
    }
    const o = c.outputs;
    const bits = [o.ok, o.ng, o.resultValid];
    if (o.table === 'coil' && new Set(bits).size !== bits.length) {
      ctx.addIssue({
        code: 'custom',
        message: 'ok, ng and resultValid need distinct coils',
        path: ['outputs'],
      });
    }
  });

/** The parsed config, inferred from the schema so the two cannot drift apart. */
export interface PlcConfig extends z.output<typeof plcConfigSchema> {}
export type PlcConfigInput = z.input<typeof plcConfigSchema>;

type Parsed = z.output<typeof plcConfigSchema>;

/** Holding registers the agent writes or reads that overlap, as [path, address] pairs. */
function duplicateHoldingRegisters(c: Parsed): [string[], number][] {
  const used: [string[], number][] = [[['outputs', 'acquisitionId'], c.outputs.acquisitionId]];
  if (c.outputs.resultId !== undefined) used.push([['outputs', 'resultId'], c.outputs.resultId]);
  if (c.outputs.table === 'holding') {
    used.push([['outputs', 'ok'], c.outputs.ok], [['outputs', 'ng'], c.outputs.ng]);
    used.push([['outputs', 'resultValid'], c.outputs.resultValid]);
  }
  if (c.trigger.mode === 'triggerRegister') used.push([['trigger', 'address'], c.trigger.address]);
  if (c.recipe) {
    used.push([['recipe', 'address'], c.recipe.address], [['recipe', 'echo'], c.recipe.echo]);
    if (c.recipe.status !== undefined) used.push([['recipe', 'status'], c.recipe.status]);
  }
  if (c.partId) {
    for (let i = 0; i < c.partId.count; i++) used.push([['partId', 'address'], c.partId.address + i]);
  }
  const seen = new Set<number>();
  const dupes: [string[], number][] = [];
  for (const [path, addr] of used) {
    if (seen.has(addr)) dupes.push([path, addr]);
    seen.add(addr);
  }
  return dupes;
}
