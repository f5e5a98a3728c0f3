import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import SessionDetail from '../src/views/SessionDetail.svelte';
import FindingsView from '../src/views/FindingsView.svelte';
import InspectorView from '../src/views/InspectorView.svelte';
import AuditView from '../src/views/AuditView.svelte';
import { app } from '../src/lib/app.svelte';
import { finding, ipcError, mockBackend, must, overview, session, sessionView } from './fixtures';

beforeEach(() => {
  app.reset();
  app.setTheme('dark');
  app.overview = overview();
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe('SessionDetail', () => {
  it('shows header, charts as images, findings, timeline and tokens; hostile strings stay text', async () => {
    const hostileUa = '<script>alert(1)</script>';
    const hostileName = '<img src=x onerror=alert(1)>';
    const v = sessionView({
      session: session(1, { username: hostileName, userAgent: hostileUa, device: null, org: '<b>Evil Org</b>' }),
    });
    must(v.findings[0]).finding.explanation = 'Explained <img src=y onerror=alert(2)>';
    must(v.timeline[1]).path = '/api/<svg onload=alert(3)>';
    mockBackend({ session_view: () => v });
    const { container } = render(SessionDetail, { id: 's-1' });

    const detail = await screen.findByTestId('session-detail');
    await waitFor(() => expect(detail.textContent).toContain(hostileName));
    expect(detail.textContent).toContain(hostileUa);
    expect(detail.textContent).toContain('<b>Evil Org</b>');
    expect(screen.getByTestId('finding-explanation').textContent).toBe('Explained <img src=y onerror=alert(2)>');
    expect(container.querySelector('script, b, svg')).toBeNull();
    const imgs = [...container.querySelectorAll('img')];
    expect(imgs.map((i) => i.dataset.testid)).toEqual(['rate-graph', 'session-map']);
    for (const img of imgs) expect(img.getAttribute('src')).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);
    expect(screen.getByText('IP geolocation by DB-IP')).toBeTruthy();

    const rows = screen.getAllByTestId('timeline-row');
    expect(rows).toHaveLength(2);
    // Newest first; the denied request is highlighted and says why.
    expect(rows[0]?.classList.contains('denied')).toBe(true);
    expect(rows[0]?.textContent).toContain('token revoked');
    expect(rows[1]?.classList.contains('denied')).toBe(false);

    const revokeToken = screen.getByTestId('action-revoke-token');
    expect(revokeToken.dataset.jti).toBe('jti-1');
    await fireEvent.click(revokeToken);
    expect(app.action).toMatchObject({ intent: 'revoke_token', targets: ['jti-1'] });

    app.action = null;
    await fireEvent.click(screen.getByTestId('action-contain'));
    expect(app.action).toMatchObject({ intent: 'contain', targets: ['u-1'] });
    app.action = null;
    await fireEvent.click(screen.getByTestId('action-reset'));
    expect(app.action).toMatchObject({ intent: 'force_password_reset', targets: ['u-1'] });
    app.action = null;
    await fireEvent.click(screen.getByTestId('action-revoke-user'));
    expect(app.action).toMatchObject({ intent: 'revoke_user_sessions', targets: ['u-1'] });
  });

  it('records verdicts and suppressions, then reloads', async () => {
    const calls = mockBackend({
      session_view: () => sessionView(),
      set_verdict: () => null,
      suppress_finding: () => ({ user: 'u-1', scope: { type: 'place', country: 'NG', city: null }, reason: null, from_finding: 'f-1' }),
      list_findings: () => [],
    });
    render(SessionDetail, { id: 's-1' });
    const card = await screen.findByTestId('finding');
    expect(card.dataset.findingId).toBe('f-1');
    await fireEvent.click(screen.getByTestId('mark-false'));
    await waitFor(() => expect(calls.find((c) => c.cmd === 'set_verdict')?.args).toEqual({
      feedback: { finding_id: 'f-1', verdict: 'false_positive', note: null },
    }));
    await waitFor(() => expect(calls.filter((c) => c.cmd === 'session_view').length).toBe(2));

    await fireEvent.click(screen.getByTestId('suppress'));
    await fireEvent.change(screen.getByTestId('suppress-scope'), { target: { value: 'network' } });
    await fireEvent.input(screen.getByTestId('suppress-note'), { target: { value: 'office VPN' } });
    await fireEvent.click(screen.getByTestId('suppress-apply'));
    await waitFor(() => expect(calls.find((c) => c.cmd === 'suppress_finding')?.args).toEqual({
      findingId: 'f-1', scope: 'network', note: 'office VPN',
    }));
  });

  it('says what is missing when the session does not exist', async () => {
    mockBackend({ session_view: () => { throw ipcError('NotFound', 'not found: session s-404'); } });
    render(SessionDetail, { id: 's-404' });
    const banner = await screen.findByTestId('error-banner');
    expect(banner.dataset.kind).toBe('NotFound');
    expect(banner.textContent).toContain('Session s-404 was not found.');
  });

  it('Internal errors stay generic and point at the log', async () => {
    mockBackend({ session_view: () => { throw ipcError('Internal', 'sqlite: database is locked at src/store.rs:42'); } });
    render(SessionDetail, { id: 's-1' });
    const banner = await screen.findByTestId('error-banner');
    expect(banner.textContent).toContain('details are in the log');
    expect(banner.textContent).not.toContain('sqlite');
  });
});

describe('FindingsView', () => {
  it('lists findings in server order and asks for the filter', async () => {
    const calls = mockBackend({
      list_findings: () => [finding('f-1'), finding('f-2', { severity: 'high', username: '<u>x</u>' })],
    });
    render(FindingsView);
    const rows = await screen.findAllByTestId('finding-row');
    expect(rows.map((r) => r.dataset.findingId)).toEqual(['f-1', 'f-2']);
    expect(rows[1]?.textContent).toContain('<u>x</u>');
    expect(screen.getByTestId('findings-table')).toBeTruthy();
    expect(calls[0]?.args).toEqual({ filter: { minSeverity: null, userId: null, sessionId: null, hideFalsePositives: true, limit: 5000 } });
    await fireEvent.click(must(rows[1]));
    await waitFor(() => expect(screen.getByTestId('finding').dataset.findingId).toBe('f-2'));
    await fireEvent.click(screen.getByTestId('open-session'));
    expect(app.detail).toEqual({ kind: 'session', id: 's-1' });
  });
});

describe('InspectorView', () => {
  it('shows claims as text, the usable-until countdown, and offers revocation of the pasted token', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.sig';
    const until = new Date(Date.now() + 125_000).toISOString();
    const calls = mockBackend({
      inspect_token: () => ({
        header: { alg: 'RS256', kid: 'k1' },
        claims: { sub: 'u-1', name: '<script>alert(1)</script>' },
        signature: { status: 'valid', kid: 'k1' },
        lints: [{ code: 'long-lived', severity: 'warning', message: 'expires in more than 1 h' }],
        jti: 'jti-9', subject: 'u-1', sessionId: 's-1', expiresAt: until, revoked: false, usableUntil: until, knownSession: true,
      }),
    });
    const { container } = render(InspectorView);
    await fireEvent.input(screen.getByTestId('inspector-input'), { target: { value: `  ${token}\n` } });
    await fireEvent.click(screen.getByTestId('inspector-run'));
    const result = await screen.findByTestId('inspector-result');
    expect(calls[0]?.args).toEqual({ token });
    expect(result.textContent).toContain('"name": "<script>alert(1)</script>"');
    expect(container.querySelector('script')).toBeNull();
    expect(screen.getByTestId('inspector-usable').textContent).toMatch(/2:0[45] left/);
    await fireEvent.click(screen.getByText('Revoke this token'));
    expect(app.action).toMatchObject({ intent: 'revoke_token', targets: [token] });
  });
});

describe('AuditView', () => {
  it('shows entries and the chain verification, and re-verifies on demand', async () => {
    let ok = true;
    const calls = mockBackend({
      audit_recent: () => [
        { seq: 1, at: '2024-05-01T12:00:00Z', actor: 'ana', action: 'revoke_session', profile: 'demo', target: 's-1', detail: { note: '<i>x</i>' }, prevHash: '', hash: 'h1' },
      ],
      audit_verify: () => (ok ? { entries: 1, ok: true, problems: [] } : { entries: 1, ok: false, problems: [{ kind: 'edited', seq: 1 }] }),
    });
    render(AuditView);
    await waitFor(() => expect(screen.getByTestId('audit-verify-status').textContent).toContain('verified'));
    expect(screen.getByTestId('audit-table').textContent).toContain('{"note":"<i>x</i>"}');
    ok = false;
    await fireEvent.click(screen.getByTestId('audit-reverify'));
    await waitFor(() => expect(screen.getByTestId('audit-verify-status').textContent).toContain('Chain broken'));
    expect(screen.getByText('Entry 1 was edited: its content does not match its hash.')).toBeTruthy();
    expect(calls.filter((c) => c.cmd === 'audit_verify')).toHaveLength(2);
  });
});
