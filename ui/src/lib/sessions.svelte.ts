// What the sessions view remembers while the analyst opens a detail and comes back: filters, sort,
// mode, scroll, cursor, checkbox selections, the loaded pages and the sparklines.
import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { api, type SessionRow, type SessionSort, type Severity, type Theme, type UserSort, type UserSummary } from './ipc';
import { Paged } from './paged.svelte';

export type Mode = 'users' | 'sessions';

export class SessionsUi {
  mode = $state<Mode>('users');
  search = $state('');
  /** The search as applied (debounced). */
  appliedSearch = $state('');
  minSeverity = $state<Severity | ''>('');
  country = $state('');
  activeOnly = $state(false);
  withFindings = $state(false);
  userSort = $state<UserSort>('risk');
  userAsc = $state(false);
  sessionSort = $state<SessionSort>('risk');
  sessionAsc = $state(false);
  scroll = $state({ users: 0, sessions: 0 });
  cursor = $state({ users: -1, sessions: -1 });
  expandedUser = $state<string | null>(null);
  expandedSessions = $state<SessionRow[] | null>(null);
  expandedTotal = $state(0);
  selectedSessions = new SvelteSet<string>();
  selectedUsers = new SvelteSet<string>();
  sparks = new SvelteMap<string, string>();
  sparkTheme: Theme | null = null;
  /** The query each list was last loaded with; a remount with the same query keeps the pages. */
  usersKey: string | null = null;
  sessionsKey: string | null = null;

  users = new Paged<UserSummary>((offset, limit) =>
    api.listUsers({
      search: this.appliedSearch.trim() || null,
      minSeverity: this.minSeverity || null,
      withFindings: this.withFindings,
      activeOnly: this.activeOnly,
      sort: this.userSort,
      ascending: this.userAsc,
      offset,
      limit,
    }),
  );

  sessions = new Paged<SessionRow>((offset, limit) =>
    api.listSessions({
      userId: null,
      search: this.appliedSearch.trim() || null,
      minSeverity: this.minSeverity || null,
      country: this.country.trim() || null,
      activeOnly: this.activeOnly,
      withFindings: this.withFindings,
      sort: this.sessionSort,
      ascending: this.sessionAsc,
      offset,
      limit,
    }),
  );

  get filtered(): boolean {
    return (
      this.appliedSearch.trim() !== '' ||
      this.minSeverity !== '' ||
      (this.mode === 'sessions' && this.country.trim() !== '') ||
      this.activeOnly ||
      this.withFindings
    );
  }

  clearFilters(): void {
    this.search = '';
    this.appliedSearch = '';
    this.minSeverity = '';
    this.country = '';
    this.activeOnly = false;
    this.withFindings = false;
  }

  usersQueryKey(): string {
    return JSON.stringify([this.appliedSearch.trim(), this.minSeverity, this.withFindings, this.activeOnly, this.userSort, this.userAsc]);
  }

  sessionsQueryKey(): string {
    return JSON.stringify([
      this.appliedSearch.trim(),
      this.minSeverity,
      this.country.trim(),
      this.activeOnly,
      this.withFindings,
      this.sessionSort,
      this.sessionAsc,
    ]);
  }
}

export let sessionsUi = new SessionsUi();

/** Tests start from a fresh view state. */
export function resetSessionsUi(): void {
  sessionsUi = new SessionsUi();
}
