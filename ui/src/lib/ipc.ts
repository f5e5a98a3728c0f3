// The UI's only door to the Rust side. It wraps the generated bindings (src/lib/bindings.ts) so
// that components get plain values or a thrown CommandError with the closed set of kinds.
import { Channel } from '@tauri-apps/api/core';
import {
  commands,
  events,
  type ActionReport,
  type AppStatus,
  type ProfileCheck,
  type ExportResult,
  type ExportStage,
  type Incident,
  type IncidentUpdate,
  type NewIncident,
  type ReportData,
  type ReportFormat,
  type Entry,
  type ErrorKind,
  type Feedback,
  type FindingFilter,
  type FindingRow,
  type Inspection,
  type Intent,
  type IpcError,
  type ItemResult,
  type LiveUpdate,
  type Overview,
  type ProfileForm,
  type ProfileView,
  type Progress,
  type ScopeKind,
  type SessionPage,
  type SessionQuery,
  type Sparkline,
  type SessionView,
  type Step,
  type Suppression,
  type SyncOutcome,
  type Theme,
  type UserPage,
  type UserQuery,
  type UserView,
  type Verification,
} from './bindings';

export type {
  ActionKind,
  ActionRecord,
  Chart,
  ExportResult,
  ExportStage,
  Incident,
  IncidentStatus,
  IncidentUpdate,
  NewIncident,
  ReportData,
  ReportFormat,
  TimelineItem,
  TimelineSource,
  ActionReport,
  AppStatus,
  BackendKind,
  BaselinePlace,
  Capabilities,
  Check,
  PlannedCall,
  ProfileCheck,
  Entry,
  ErrorKind,
  Evidence,
  Feedback,
  Finding,
  FindingBrief,
  FindingFilter,
  FindingRow,
  Inspection,
  Intent,
  IpcError,
  ItemResult,
  JsonValue,
  KeyringHealth,
  LintView,
  LiveUpdate,
  Overview,
  Problem,
  ProfileForm,
  ProfileView,
  Progress,
  Residual,
  ScopeKind,
  SessionPage,
  SessionQuery,
  SessionRow,
  SessionSort,
  SessionView,
  Severity,
  Side,
  Signature,
  Sparkline,
  Step,
  Suppression,
  SyncOutcome,
  Theme,
  TimelineEvent,
  TokenSeen,
  UserPage,
  UserQuery,
  UserSort,
  UserSummary,
  UserView,
  Verdict,
  Verification,
} from './bindings';

const KINDS: readonly ErrorKind[] = ['Unauthorized', 'NotFound', 'Validation', 'Upstream', 'RateLimited', 'Internal'];

export class CommandError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'CommandError';
    this.kind = kind;
  }

  /** Normalises whatever a command rejected with (an IpcError, or Tauri's own string errors). */
  static from(e: unknown): CommandError {
    if (e instanceof CommandError) return e;
    if (isIpcError(e)) return new CommandError(e.kind, e.message);
    if (e instanceof Error) return new CommandError('Internal', e.message);
    return new CommandError('Internal', typeof e === 'string' ? e : 'Unexpected error');
  }
}

function isIpcError(e: unknown): e is IpcError {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  return typeof o.message === 'string' && KINDS.includes(o.kind as ErrorKind);
}

type Result<T> = { status: 'ok'; data: T } | { status: 'error'; error: IpcError };

async function unwrap<T>(call: () => Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await call();
  } catch (e) {
    throw CommandError.from(e);
  }
  if (r.status === 'ok') return r.data;
  throw CommandError.from(r.error);
}

export const api = {
  appStatus: (): Promise<AppStatus> => unwrap(() => commands.appStatus()),
  overview: (): Promise<Overview> => unwrap(() => commands.overview()),
  startDemo: (): Promise<SyncOutcome> => unwrap(() => commands.startDemo()),
  addProfile: (form: ProfileForm): Promise<ProfileView> => unwrap(() => commands.addProfile(form)),
  replaceProfileSecret: (name: string, secret: string): Promise<null> =>
    unwrap(() => commands.replaceProfileSecret(name, secret)),
  testProfile: (profile: string | null): Promise<ProfileCheck> => unwrap(() => commands.testProfile(profile)),
  syncNow: (profile: string | null = null): Promise<SyncOutcome> => unwrap(() => commands.syncNow(profile)),
  listUsers: (query: UserQuery): Promise<UserPage> => unwrap(() => commands.listUsers(query)),
  listSessions: (query: SessionQuery): Promise<SessionPage> => unwrap(() => commands.listSessions(query)),
  sparklines: (sessionIds: string[], theme: Theme): Promise<Sparkline[]> =>
    unwrap(() => commands.sparklines(sessionIds, theme)),
  sessionView: (sessionId: string, theme: Theme): Promise<SessionView> =>
    unwrap(() => commands.sessionView(sessionId, theme)),
  userView: (userId: string, theme: Theme): Promise<UserView> => unwrap(() => commands.userView(userId, theme)),
  listFindings: (filter: FindingFilter): Promise<FindingRow[]> => unwrap(() => commands.listFindings(filter)),
  setVerdict: (feedback: Feedback): Promise<null> => unwrap(() => commands.setVerdict(feedback)),
  suppressFinding: (findingId: string, scope: ScopeKind, note: string | null): Promise<Suppression> =>
    unwrap(() => commands.suppressFinding(findingId, scope, note)),
  planAction: (intent: Intent, targets: string[]): Promise<Step[]> =>
    unwrap(() => commands.planAction(intent, targets)),
  /** Runs confirmed steps; `onProgress` gets every progress report the core sends. */
  runSteps: (steps: Step[], onProgress: (p: Progress) => void): Promise<ItemResult[]> => {
    const channel = new Channel<Progress>();
    channel.onmessage = onProgress;
    return unwrap(() => commands.runSteps(steps, channel));
  },
  revokeHeldToken: (token: string): Promise<ActionReport> => unwrap(() => commands.revokeHeldToken(token)),
  cancelSteps: async (): Promise<void> => {
    try {
      await commands.cancelSteps();
    } catch (e) {
      throw CommandError.from(e);
    }
  },
  inspectToken: (token: string): Promise<Inspection> => unwrap(() => commands.inspectToken(token)),
  auditRecent: (limit: number): Promise<Entry[]> => unwrap(() => commands.auditRecent(limit)),
  auditVerify: (): Promise<Verification> => unwrap(() => commands.auditVerify()),
  listIncidents: (): Promise<Incident[]> => unwrap(() => commands.listIncidents()),
  createIncident: (incident: NewIncident): Promise<Incident> => unwrap(() => commands.createIncident(incident)),
  incidentView: (id: string): Promise<ReportData> => unwrap(() => commands.incidentView(id)),
  updateIncident: (id: string, change: IncidentUpdate): Promise<Incident> =>
    unwrap(() => commands.updateIncident(id, change)),
  /**
   * Opens the native save dialog and exports; `null` when the analyst cancelled the dialog.
   * `onStage` gets each stage (gathering, signing, writing, done).
   */
  exportReport: (id: string, format: ReportFormat, onStage: (s: ExportStage) => void): Promise<ExportResult | null> => {
    const channel = new Channel<ExportStage>();
    channel.onmessage = onStage;
    return unwrap(() => commands.exportReport(id, format, channel));
  },
  /** Shows an exported file in the system's file manager. */
  revealExport: (path: string): Promise<null> => unwrap(() => commands.revealExport(path)),
};

/** Subscribes to the background sync's reports; resolves to the function that unsubscribes. */
export async function onLiveUpdate(handler: (u: LiveUpdate) => void): Promise<() => void> {
  return events.liveUpdate.listen((e) => handler(e.payload));
}
