import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import App from '../src/App.svelte';
import { app } from '../src/lib/app.svelte';
import { resetSessionsUi } from '../src/lib/sessions.svelte';
import type { SyncOutcome, UserQuery } from '../src/lib/ipc';
import { emitEvent, finding, mockBackend, must, overview, session, sessionView, user } from './fixtures';

const status = {
  version: '0.1.0',
  dataDir: '/d',
  configDir: '/c',
  keyring: { backend: 'Secret Service (D-Bus)', namespace: 'test', reachable: true, detail: null },
};

const outcome = (actionable = 2): SyncOutcome => ({
  sync: { profile: 'demo', users: 40, sessions: 120, activity: 5000, prunedActivity: 0, durationMs: 900 },
  detection: {
    profile: 'demo', events: 5000, unattributed: 0, replayed: true, changed: 4, durationMs: 40,
    newlyActionable: Array.from({ length: actionable }, (_, i) => finding(`f-${i}`)),
  },
});

const usersPage = (args: Record<string, unknown>) => {
  const q = args.query as UserQuery;
  const rows = q.offset ? [] : [user(1, { risk: 'critical', findings: 1 }), user(2)];
  return { total: 2, offset: q.offset ?? 0, rows };
};

beforeEach(() => {
  app.reset();
  app.setTheme('dark');
  resetSessionsUi();
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe('first run', () => {
  it('offers the demo without a profile, shows progress, then lands on flagged sessions', async () => {
    const ctl: { finish?: (o: SyncOutcome) => void } = {};
    let profiles = false;
    const calls = mockBackend({
      overview: () => (profiles ? overview() : overview({ profiles: [], activeProfile: null, lastSync: null, geoipAttribution: null })),
      app_status: () => status,
      start_demo: () => new Promise<SyncOutcome>((r) => (ctl.finish = r)),
      list_users: usersPage,
      list_findings: () => [finding('f-1'), finding('f-2')],
    });
    render(App);
    expect(await screen.findByTestId('welcome')).toBeTruthy();
    expect(screen.getByText('No profile yet')).toBeTruthy();
    expect(screen.getByTestId('connect-backend')).toBeTruthy();

    await fireEvent.click(screen.getByTestId('start-demo'));
    expect(await screen.findByTestId('demo-progress')).toBeTruthy();
    expect((screen.getByTestId('start-demo') as HTMLButtonElement).disabled).toBe(true);

    profiles = true;
    must(ctl.finish, 'start_demo')(outcome(2));
    const rows = await screen.findAllByTestId('user-row');
    expect(rows[0]?.textContent).toContain('user1');
    expect(screen.getAllByTestId('risk-badge')[0]?.textContent).toBe('critical');
    expect(screen.queryByTestId('welcome')).toBeNull();
    await waitFor(() => expect(screen.getByTestId('findings-badge').textContent).toBe('2'));
    expect(screen.getByTestId('attribution').textContent).toBe('IP geolocation by DB-IP');
    expect(screen.getByTestId('data-age').textContent).toContain('data as of 2024-05-01 12:00:00Z');
    expect(calls.filter((c) => c.cmd === 'start_demo')).toHaveLength(1);
  });

  it('starts the demo by itself when launched with --demo', async () => {
    const calls = mockBackend({
      overview: () => overview({ profiles: [], startDemo: true }),
      app_status: () => status,
      start_demo: () => new Promise(() => {}),
    });
    render(App);
    expect(await screen.findByTestId('demo-progress')).toBeTruthy();
    expect(calls.some((c) => c.cmd === 'start_demo')).toBe(true);
  });

  it('the connect form sends the secret once and forgets it', async () => {
    const calls = mockBackend({
      overview: () => overview({ profiles: [] }),
      app_status: () => status,
      add_profile: (args) => ({ ...(args.form as object), isDefault: true }),
      test_profile: () => ({
        reachable: true, authenticated: true, permissions: [['sessions:read', true], ['sessions:revoke', false]],
        capabilities: {
          listSessionsTenantWide: true, listSessionsPerUser: true, activity: true, revokeSession: true, revokeUserSessions: true,
          revokeToken: false, forceResetWithMfa: true, suspendUser: false, enforcesAccessTokenRevocation: false, accessTokenLifetimeSecs: 300,
        },
        warnings: [],
        limitations: [],
      }),
    });
    render(App);
    await fireEvent.click(await screen.findByTestId('connect-backend'));
    await fireEvent.input(screen.getByLabelText('Profile name'), { target: { value: 'prod' } });
    await fireEvent.change(screen.getByLabelText('Backend'), { target: { value: 'keycloak' } });
    await fireEvent.input(screen.getByLabelText('Base URL'), { target: { value: 'https://idp.example.com' } });
    await fireEvent.input(screen.getByLabelText('Client id'), { target: { value: 'gatehouse' } });
    const secret = screen.getByLabelText('Client secret') as HTMLInputElement;
    expect(secret.type).toBe('password');
    await fireEvent.input(secret, { target: { value: 's3cret' } });
    await fireEvent.input(screen.getByLabelText('Realm'), { target: { value: 'corp' } });
    await fireEvent.click(screen.getByTestId('connect-submit'));
    const check = await screen.findByTestId('connection-check');
    expect(check.textContent).toContain('sessions:revoke');
    const add = calls.find((c) => c.cmd === 'add_profile');
    expect(add?.args.form).toEqual({
      name: 'prod', kind: 'keycloak', baseUrl: 'https://idp.example.com', clientId: 'gatehouse', secret: 's3cret', realm: 'corp',
      auth: null, keyId: null, scopes: null, audience: null,
    });
    expect(calls.find((c) => c.cmd === 'test_profile')?.args).toEqual({ profile: 'prod' });
    expect(document.body.innerHTML).not.toContain('s3cret');
  });
});

describe('console', () => {
  function backend(extra: Record<string, (a: Record<string, unknown>) => unknown> = {}) {
    return mockBackend({
      overview: () => overview(),
      list_users: usersPage,
      list_findings: () => [finding('f-1')],
      list_sessions: () => ({ total: 1, offset: 0, rows: [session(1)] }),
      sparklines: () => [],
      session_view: () => sessionView(),
      sync_now: () => outcome(0),
      ...extra,
    });
  }

  it('live updates move the data age and the findings badge, and reload in place', async () => {
    const calls = backend();
    render(App);
    await screen.findAllByTestId('user-row');
    await waitFor(() => expect(screen.getByTestId('findings-badge').textContent).toBe('1'));
    const before = calls.filter((c) => c.cmd === 'list_users').length;
    await emitEvent('live-update', { at: '2024-05-01T12:30:00Z', outcome: outcome(3), error: null, nextInSecs: 30 });
    await waitFor(() => expect(screen.getByTestId('findings-badge').textContent).toBe('4'));
    expect(screen.getByTestId('data-age').textContent).toContain('2024-05-01 12:30:00Z');
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'list_users').length).toBeGreaterThan(before));
    expect(screen.getByTestId('live-status').textContent).toMatch(/next sync in 0:(30|29)/);

    await emitEvent('live-update', { at: '2024-05-01T12:31:00Z', outcome: null, error: { kind: 'Upstream', message: 'down' }, nextInSecs: 60 });
    await waitFor(() => expect(screen.getByTestId('live-status').textContent).toContain('live sync failed (Upstream)'));
    expect(screen.getByTestId('findings-badge').textContent).toBe('4');
  });

  it('the theme toggle re-fetches the session view with the other theme', async () => {
    const calls = backend();
    render(App);
    await screen.findAllByTestId('user-row');
    app.openSession('s-1');
    await screen.findByTestId('session-detail');
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'session_view').at(-1)?.args).toEqual({ sessionId: 's-1', theme: 'dark' }));
    await fireEvent.click(screen.getByTestId('theme-toggle'));
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'session_view').at(-1)?.args).toEqual({ sessionId: 's-1', theme: 'light' }));
    expect(document.documentElement.dataset.theme).toBe('light');
    expect(localStorage.getItem('gatehouse.theme')).toBe('light');
  });

  it('keyboard: 1–5 switch views, ? opens help, Esc closes it, t toggles theme', async () => {
    backend({ audit_recent: () => [], audit_verify: () => ({ entries: 0, ok: true, problems: [] }), app_status: () => status });
    render(App);
    await screen.findAllByTestId('user-row');
    await fireEvent.keyDown(window, { key: '4' });
    await waitFor(() => expect(screen.getByTestId('audit-verify-status').textContent).toContain('verified'));
    await fireEvent.keyDown(window, { key: '?' });
    const help = await screen.findByTestId('help-overlay');
    await fireEvent.keyDown(help, { key: 'Escape' });
    expect(screen.queryByTestId('help-overlay')).toBeNull();
    await fireEvent.keyDown(window, { key: 't' });
    expect(app.theme).toBe('light');
    await fireEvent.keyDown(window, { key: '5' });
    expect(await screen.findByTestId('checks')).toBeTruthy();
    expect(document.getElementById('check-status')).toBeTruthy();
  });

  it('an action from the session detail plans first, runs on confirm, then syncs and reloads', async () => {
    const calls = backend({
      plan_action: () => [{ kind: 'revoke_session', target: 's-1', description: 'Revoke session s-1.' }],
      run_steps: () => [
        {
          status: 'done',
          step: { kind: 'revoke_session', target: 's-1', description: 'Revoke session s-1.' },
          report: {
            id: 'a', kind: 'revoke_session', target: 's-1', alreadyDone: false, resumed: false, sessionsRevoked: ['s-1'],
            verified: true, checks: [], residual: { until: null, note: '' },
          },
        },
      ],
    });
    render(App);
    await screen.findAllByTestId('user-row');
    app.openSession('s-1');
    await fireEvent.click(await screen.findByTestId('action-revoke-session'));
    expect((await screen.findAllByTestId('plan-step'))[0]?.textContent).toContain('Revoke session s-1.');
    expect(calls.filter((c) => c.cmd === 'plan_action')[0]?.args).toEqual({ intent: 'revoke_session', targets: ['s-1'] });
    expect(calls.some((c) => c.cmd === 'run_steps')).toBe(false);
    await fireEvent.click(screen.getByTestId('confirm-run'));
    const result = await screen.findByTestId('action-result');
    expect(result.dataset.verified).toBe('true');
    expect(screen.getByTestId('residual').textContent).toContain('the backend refuses revoked tokens on every request');
    const views = calls.filter((c) => c.cmd === 'session_view').length;
    await fireEvent.click(screen.getByTestId('close-dialog'));
    await waitFor(() => expect(calls.some((c) => c.cmd === 'sync_now')).toBe(true));
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'session_view').length).toBeGreaterThan(views));
    expect(screen.getByTestId('session-detail')).toBeTruthy();
  });
});
