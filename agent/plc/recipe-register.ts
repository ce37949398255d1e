import type { Logger } from 'pino';
import type { PlcConfig } from '../config/index.js';
import { describeError } from '../errors.js';
import { type ModbusClient, readWords } from './registers.js';
import type { PlcIo, PlcRecipeLink, PlcRecipeStatus } from './types.js';

/** The status register's values (docs/recipes.md). */
export const RECIPE_STATUS = { ready: 0, changing: 1, refused: 2 } as const;
type RecipeStatusName = PlcRecipeStatus['status'];

/**
 * The recipe register pair (Cognex's Job Load, LandingEdge's sub-configuration index): the PLC writes the
 * number of the product it is about to run, the agent switches and writes the active number back. Read at
 * every poll before the trigger, so a part the PLC triggers after writing the number is judged by that
 * recipe. A new value is a request (0 is none); writing the same number again needs a 0 in between.
 */
export class RecipeRegister {
  private requested: number | undefined;
  private echoed: number | undefined;
  private status: RecipeStatusName = 'ready';
  private written: RecipeStatusName | undefined;
  private lastRefusal: string | null = null;

  constructor(
    private readonly spec: NonNullable<PlcConfig['recipe']>,
    private readonly link: PlcRecipeLink,
    private readonly deps: { log: Logger; io: PlcIo },
  ) {}

  snapshot(): PlcRecipeStatus {
    return {
      requested: this.requested ?? null,
      echoed: this.echoed ?? null,
      status: this.status,
      lastRefusal: this.lastRefusal,
    };
  }

  /** On each (re)connect: the PLC's registers are read and written afresh. */
  reset(): void {
    this.requested = undefined;
    this.echoed = undefined;
    this.written = undefined;
  }

  /** The register's value, read with the trigger or by `poll`: a change asks for a switch, at once. */
  seen(value: number): void {
    if (value === this.requested) return;
    const first = this.requested === undefined;
    this.requested = value;
    // on connect, a register already naming the active recipe is no request
    if (value !== 0 && !(first && value === this.link.activeNumber())) this.ask(value);
  }

  /** One poll: read the request (unless it came with the trigger), then bring echo and status up to date. */
  async poll(client: ModbusClient, read = true): Promise<void> {
    const { io } = this.deps;
    if (read) {
      const [value = 0] = await io('read', 'recipe', () => readWords(client, this.spec.address, 1));
      this.seen(value);
    }
    const active = this.link.activeNumber();
    if (active !== this.echoed) {
      await io('write', 'recipeEcho', () => client.writeRegister(this.spec.echo, active));
      this.echoed = active;
    }
    const { status } = this.spec;
    if (status !== undefined && this.status !== this.written) {
      // what is written, not what the status is once the write returns (a switch may end meanwhile)
      const writing = this.status;
      await io('write', 'recipeStatus', () => client.writeRegister(status, RECIPE_STATUS[writing]));
      this.written = writing;
    }
  }

  private ask(number: number): void {
    this.status = 'changing';
    this.deps.log.info({ recipe: number }, 'the PLC asks for a recipe');
    let switching: Promise<unknown>;
    try {
      switching = this.link.select(number);
    } catch (err) {
      switching = Promise.reject(err);
    }
    switching.then(
      () => {
        if (this.requested === number) this.status = 'ready';
      },
      (err: unknown) => {
        this.lastRefusal = describeError(err);
        this.deps.log.warn({ err, recipe: number }, 'the recipe the PLC asked for was refused');
        if (this.requested === number) this.status = 'refused';
      },
    );
  }
}
