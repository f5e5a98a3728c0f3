// Shell state shared by the views: theme, overview, navigation, live status, the action request
// and a reload counter that views watch to refresh in place (keeping selection and scroll).
import { api, CommandError, type Intent, type IpcError, type Overview, type Theme } from './ipc';

export type View = 'sessions' | 'findings' | 'inspector' | 'audit' | 'status' | 'incidents';
export const VIEWS: readonly View[] = ['sessions', 'findings', 'inspector', 'audit', 'status', 'incidents'];

export type Detail =
  | { kind: 'session'; id: string }
  | { kind: 'user'; id: string }
  | { kind: 'incident'; id: string }
  | null;

/** What "Create incident" starts from; the dialog asks for the title, severity and notes. */
export interface IncidentDraft {
  findings: string[];
  sessions: string[];
  users: string[];
  /** A suggested title, e.g. "Stolen session of alice". */
  title: string;
}

export interface ActionRequest {
  intent: Intent;
  targets: string[];
  /** What the analyst clicked, e.g. "Revoke session". */
  title: string;
  /** Who or what it is about, shown under the title (text only). */
  subject?: string;
  /** Called after the steps ran (whatever their outcome). */
  onRan?: () => void;
  /**
   * The token itself, for a `revoke_token` request from the inspector: it is then revoked as a
   * held token (verified by introspection where the profile has a client for it).
   */
  heldToken?: string;
}

export interface LiveStatus {
  at: string;
  error: IpcError | null;
  /** Epoch ms of the next background sync. */
  nextAt: number;
  /** The wait the backend announced, so a stale clock tick never shows more than it. */
  everyMs: number;
}

const THEME_KEY = 'gatehouse.theme';

function initialTheme(): Theme {
  try {
    const saved = localStorage.getItem(THEME_KEY);
    if (saved === 'dark' || saved === 'light') return saved;
  } catch {
    // Storage may be unavailable; fall back to the system preference.
  }
  if (typeof window !== 'undefined' && typeof window.matchMedia === 'function') {
    return window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
  }
  return 'dark';
}

class AppState {
  theme = $state<Theme>(initialTheme());
  overview = $state<Overview | null>(null);
  view = $state<View>('sessions');
  detail = $state<Detail>(null);
  findingsBadge = $state(0);
  lastSync = $state<string | null>(null);
  live = $state<LiveStatus | null>(null);
  /** Incremented when the data changed (sync, live update, action): views reload in place. */
  reloadTick = $state(0);
  action = $state<ActionRequest | null>(null);
  incidentDraft = $state<IncidentDraft | null>(null);
  connectOpen = $state(false);
  helpOpen = $state(false);
  syncing = $state(false);
  syncError = $state<CommandError | null>(null);
  /** A short, calm message in the status line ("Demo ready: ..."). */
  notice = $state<string | null>(null);

  setTheme(t: Theme): void {
    this.theme = t;
    try {
      localStorage.setItem(THEME_KEY, t);
    } catch {
      // Not persisted; the toggle still works for this session.
    }
  }

  toggleTheme(): void {
    this.setTheme(this.theme === 'dark' ? 'light' : 'dark');
  }

  navigate(view: View): void {
    this.view = view;
    this.detail = null;
  }

  openSession(id: string): void {
    this.detail = { kind: 'session', id };
  }

  openUser(id: string): void {
    this.detail = { kind: 'user', id };
  }

  openIncident(id: string): void {
    this.view = 'incidents';
    this.detail = { kind: 'incident', id };
  }

  requestIncident(draft: IncidentDraft): void {
    this.incidentDraft = draft;
  }

  requestAction(req: ActionRequest): void {
    this.action = req;
  }

  async loadOverview(): Promise<Overview> {
    const o = await api.overview();
    this.overview = o;
    this.lastSync = o.lastSync;
    return o;
  }

  async refreshBadge(): Promise<void> {
    try {
      const rows = await api.listFindings({
        minSeverity: 'high',
        userId: null,
        sessionId: null,
        hideFalsePositives: true,
        limit: 10000,
      });
      this.findingsBadge = rows.length;
    } catch {
      // The badge keeps its last value; the views show their own errors.
    }
  }

  /** Sync now, then let every view reload in place. */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const o = await api.syncNow(null);
      this.syncError = null;
      this.lastSync = new Date().toISOString();
      await this.loadOverview().catch(() => undefined);
      this.notice = `Synced ${o.sync.sessions} sessions of ${o.sync.users} users; ${o.detection.changed} findings changed.`;
    } catch (e) {
      this.syncError = CommandError.from(e);
    } finally {
      this.syncing = false;
      this.reloadTick += 1;
      void this.refreshBadge();
    }
  }

  reset(): void {
    this.overview = null;
    this.view = 'sessions';
    this.detail = null;
    this.findingsBadge = 0;
    this.lastSync = null;
    this.live = null;
    this.reloadTick = 0;
    this.action = null;
    this.incidentDraft = null;
    this.connectOpen = false;
    this.helpOpen = false;
    this.syncing = false;
    this.syncError = null;
    this.notice = null;
  }
}

export const app = new AppState();

/** A reactive clock for countdowns and "3 min ago"; call during component initialisation. */
export function ticker(ms = 1000): { readonly now: number; refresh(): void } {
  let now = $state(Date.now());
  $effect(() => {
    const id = setInterval(() => (now = Date.now()), ms);
    return () => clearInterval(id);
  });
  return {
    get now() {
      return now;
    },
    /** Catch up at once (a countdown that just started must not show a stale second). */
    refresh() {
      now = Date.now();
    },
  };
}

/** True when a key event comes from a field where letters are text, not shortcuts. */
export function typingIn(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
}

/** True when Enter or Space would already act on the focused control (a button, a link). */
export function onControl(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'BUTTON' || t.tagName === 'A' || t.tagName === 'SUMMARY');
}

/** True while a modal (action dialog, connect form, help) owns the keyboard. */
export function modalOpen(): boolean {
  return app.action !== null || app.incidentDraft !== null || app.connectOpen || app.helpOpen;
}
