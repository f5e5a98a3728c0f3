// Rows of a long server-side list, fetched page by page as the virtual list scrolls to them.
import { CommandError } from './ipc';

export interface Page<T> {
  total: number;
  rows: T[];
}

export type Fetch<T> = (offset: number, limit: number) => Promise<Page<T>>;

export class Paged<T> {
  total = $state<number | null>(null);
  error = $state<CommandError | null>(null);
  loading = $state(false);
  /** Loaded pages by page number; replaced (not mutated) so a 100k list needs no deep proxy. */
  private pages = $state.raw<Record<number, T[]>>({});
  /** Page numbers being fetched. */
  private inflight: number[] = [];
  private generation = 0;

  constructor(
    private fetch: Fetch<T>,
    readonly pageSize = 200,
  ) {}

  get(i: number): T | undefined {
    return this.pages[Math.floor(i / this.pageSize)]?.[i % this.pageSize];
  }

  /** The index of the first loaded row matching `pred`, or -1. */
  indexOf(pred: (row: T) => boolean): number {
    let best = -1;
    for (const [p, rows] of Object.entries(this.pages)) {
      const k = rows.findIndex(pred);
      if (k >= 0) {
        const i = Number(p) * this.pageSize + k;
        if (best < 0 || i < best) best = i;
      }
    }
    return best;
  }

  /** Forgets everything (filters changed) and loads the first page. */
  reset(fetch?: Fetch<T>): Promise<void> {
    if (fetch) this.fetch = fetch;
    this.generation += 1;
    this.pages = {};
    this.inflight = [];
    this.total = null;
    this.error = null;
    return this.load(0, this.generation);
  }

  /** Makes sure the rows in [start, end) are loaded (or loading). */
  ensure(start: number, end: number): void {
    if (this.total === null) return;
    const last = Math.min(end, this.total) - 1;
    for (let p = Math.floor(start / this.pageSize); p <= Math.floor(Math.max(start, last) / this.pageSize); p++) {
      if (!(p in this.pages) && !this.inflight.includes(p) && p * this.pageSize < this.total) {
        void this.load(p, this.generation);
      }
    }
  }

  /** Reloads the pages covering [start, end) in place; other pages are dropped and refetched on demand. */
  async refresh(start: number, end: number): Promise<void> {
    this.generation += 1;
    const gen = this.generation;
    const first = Math.floor(start / this.pageSize);
    const last = Math.floor(Math.max(start, end - 1) / this.pageSize);
    const keep: Record<number, T[]> = {};
    for (let p = first; p <= last; p++) {
      const rows = this.pages[p];
      if (rows) keep[p] = rows;
    }
    this.pages = keep;
    this.inflight = [];
    const wanted: number[] = [];
    for (let p = first; p <= last; p++) wanted.push(p);
    await Promise.all(wanted.map((p) => this.load(p, gen)));
  }

  private async load(page: number, gen: number): Promise<void> {
    this.inflight.push(page);
    this.loading = true;
    try {
      const r = await this.fetch(page * this.pageSize, this.pageSize);
      if (gen !== this.generation) return;
      this.pages = { ...this.pages, [page]: r.rows };
      this.total = r.total;
      this.error = null;
    } catch (e) {
      if (gen !== this.generation) return;
      this.error = CommandError.from(e);
    } finally {
      if (gen === this.generation) {
        this.inflight = this.inflight.filter((p) => p !== page);
        this.loading = this.inflight.length > 0;
      }
    }
  }
}
