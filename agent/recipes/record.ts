import type { Database } from 'better-sqlite3';
import { type Connection, LazyStatements } from '../store/index.js';

/** The last selected recipe, and which `activeRecipe` agent.yaml named when it was selected. */
export interface RecipeState {
  recipe: string;
  configured: string;
  at: number;
}

const KEY = 'recipe.active';

/**
 * Where the active recipe survives a restart: a row of the store's `meta` table, so it is as durable as
 * the decisions (WAL, synchronous=FULL) and goes wherever the store is backed up or moved.
 */
export class RecipeRecord {
  private readonly statements: LazyStatements<ReturnType<typeof RecipeRecord.prepare>>;

  constructor(connection: Connection) {
    this.statements = new LazyStatements(connection, RecipeRecord.prepare);
  }

  private static prepare(db: Database) {
    return {
      read: db.prepare('SELECT value FROM meta WHERE key = ?'),
      write: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  /** The recorded state; undefined when none was recorded or the row is not ours to read. */
  read(): RecipeState | undefined {
    const row = this.statements.get().read.get(KEY) as { value: string } | undefined;
    if (!row) return undefined;
    const v = JSON.parse(row.value) as Partial<RecipeState>;
    if (typeof v.recipe !== 'string' || typeof v.configured !== 'string') return undefined;
    return { recipe: v.recipe, configured: v.configured, at: typeof v.at === 'number' ? v.at : 0 };
  }

  write(state: RecipeState): void {
    this.statements.get().write.run(KEY, JSON.stringify(state));
  }
}
