// Builders for the core's values and a mockIPC router that records every call.
import { mockIPC } from '@tauri-apps/api/mocks';
import type {
  FindingRow,
  Overview,
  SessionRow,
  SessionView,
  Step,
  UserSummary,
} from '../src/lib/ipc';

export type Call = { cmd: string; args: Record<string, unknown> };
export type Handler = (args: Record<string, unknown>) => unknown;

/** Routes commands to handlers; an unknown command fails the call (and the test shows it). */
export function mockBackend(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) throw new Error(`unexpected command ${cmd}`);
      return h(args);
    },
    { shouldMockEvents: true },
  );
  return calls;
}

export const ipcError = (kind: string, message: string) => ({ kind, message });

export function overview(o: Partial<Overview> = {}): Overview {
  return {
    profiles: [{ name: 'demo', kind: 'authd', baseUrl: 'http://127.0.0.1:7000', clientId: 'gatehouse', isDefault: true }],
    activeProfile: 'demo',
    lastSync: '2024-05-01T12:00:00Z',
    geoipAttribution: 'IP geolocation by DB-IP',
    demo: null,
    startDemo: false,
    ...o,
  };
}

export function user(i: number, o: Partial<UserSummary> = {}): UserSummary {
  return {
    id: `u-${i}`,
    username: `user${i}`,
    displayName: `User ${i}`,
    email: `user${i}@example.com`,
    status: 'active',
    sessions: 2,
    activeSessions: 1,
    lastSeenAt: '2024-05-01T11:58:00Z',
    risk: null,
    findings: 0,
    countries: 1,
    ...o,
  };
}

export function session(i: number, o: Partial<SessionRow> = {}): SessionRow {
  return {
    id: `s-${i}`,
    userId: `u-${i}`,
    username: `user${i}`,
    ip: `203.0.113.${i % 250}`,
    city: 'Berlin',
    country: 'DE',
    asn: 3320,
    org: 'Deutsche Telekom',
    networkClass: 'isp',
    device: 'Firefox 125 on Linux',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
    startedAt: '2024-05-01T08:00:00Z',
    lastSeenAt: '2024-05-01T11:58:00Z',
    expiresAt: '2024-05-02T08:00:00Z',
    active: true,
    revokedAt: null,
    events: 120,
    denied: 0,
    places: 1,
    topFinding: null,
    ...o,
  };
}

export function finding(id: string, o: Partial<FindingRow> = {}): FindingRow {
  return {
    id,
    userId: 'u-1',
    username: 'user1',
    sessionId: 's-1',
    kind: 'impossible_travel',
    severity: 'critical',
    score: 92,
    detectedAt: '2024-05-01T11:40:00Z',
    lastSeen: '2024-05-01T11:58:00Z',
    verdict: null,
    finding: {
      id,
      kind: 'impossible_travel',
      severity: 'critical',
      score: 92,
      user: 'u-1',
      session: 's-1',
      detected_at: '2024-05-01T11:40:00Z',
      first_seen: '2024-05-01T08:00:00Z',
      last_seen: '2024-05-01T11:58:00Z',
      explanation: 'Used from Berlin, DE and 9 minutes later from Lagos, NG: 4,900 km at 32,000 km/h (threshold 1,000 km/h).',
      evidence: [
        {
          kind: 'impossible_travel',
          at: '2024-05-01T11:40:00Z',
          score: 92,
          explanation: '4,900 km in 9 min',
          event: { at: '2024-05-01T11:40:00Z', ip: '198.51.100.7', place: null, network: null, device: null },
          previous: null,
          facts: { distance_km: 4900, speed_kmh: 32666.7 },
        },
      ],
    },
    ...o,
  };
}

export function sessionView(o: Partial<SessionView> = {}): SessionView {
  return {
    session: session(1, { topFinding: { id: 'f-1', kind: 'impossible_travel', severity: 'critical', score: 92 } }),
    findings: [finding('f-1')],
    timeline: [
      {
        eventId: 'e-1', at: '2024-05-01T11:39:00Z', ip: '203.0.113.1', place: 'Berlin, DE', network: 'AS3320 Deutsche Telekom',
        device: 'Firefox 125 on Linux', jti: 'jti-1', method: 'GET', path: '/api/me', status: 200, denialReason: null, sensitive: false,
      },
      {
        eventId: 'e-2', at: '2024-05-01T11:40:00Z', ip: '198.51.100.7', place: 'Lagos, NG', network: 'AS37148 Globacom',
        device: 'python-requests 2.31', jti: 'jti-1', method: 'POST', path: '/api/admin/export', status: 403,
        denialReason: 'token revoked', sensitive: true,
      },
    ],
    timelineTruncated: false,
    tokens: [{ jti: 'jti-1', firstSeen: '2024-05-01T08:00:00Z', lastSeen: '2024-05-01T11:40:00Z', requests: 120, denied: 1 }],
    actions: [],
    rateSvg: '<svg xmlns="http://www.w3.org/2000/svg"><text>rate</text></svg>',
    mapSvg: '<svg xmlns="http://www.w3.org/2000/svg"><text>map</text></svg>',
    ...o,
  };
}

export const step = (kind: Step['kind'], target: string, description: string): Step => ({ kind, target, description });

/** The value, or a test failure saying it was missing. */
export function must<T>(v: T | null | undefined, what = 'value'): T {
  if (v === null || v === undefined) throw new Error(`missing ${what}`);
  return v;
}

/** Emits a backend event through the mocked event plugin (mockIPC with shouldMockEvents). */
export async function emitEvent(event: string, payload: unknown): Promise<void> {
  const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (cmd: string, args: unknown) => Promise<unknown> } })
    .__TAURI_INTERNALS__;
  await internals.invoke('plugin:event|emit', { event, payload });
}

/** Lets pending promises and Svelte's effects settle. */
export async function settle(times = 3): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0));
}
