import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import ActionDialog from '../src/components/ActionDialog.svelte';
import type { ItemResult, Progress } from '../src/lib/ipc';
import type { Handover } from '../src/lib/bindings';
import { ipcError, mockBackend, must, settle, step } from './fixtures';

afterEach(() => {
  cleanup();
  clearMocks();
  vi.useRealTimers();
});

const plan = [
  step('revoke_session', 's-1', 'Revoke session s-1: its refresh tokens and every access token issued under it stop working.'),
  step('revoke_session', 's-2', 'Revoke session s-2: its refresh tokens and every access token issued under it stop working.'),
  step('revoke_session', 's-3', 'Revoke session s-3: its refresh tokens and every access token issued under it stop working.'),
];

function report(target: string, verified: boolean, until: string | null) {
  return {
    id: `a-${target}`,
    kind: 'revoke_session' as const,
    target,
    alreadyDone: false,
    resumed: false,
    sessionsRevoked: [target],
    verified,
    checks: [{ what: `session ${target} is no longer active`, ok: verified }],
    residual: { until, note: until ? 'access tokens are not checked against revocation' : '' },
  };
}

/** Runs a forced reset of `target` whose result hands `handover` over; returns its block. */
async function runResetHandingOver(target: string, verified: boolean, handover: Handover): Promise<HTMLElement> {
  const reset = step('force_password_reset', target, `Force a password reset for user ${target}.`);
  mockBackend({
    plan_action: () => [reset],
    run_steps: () => [
      { status: 'done', step: reset, report: { ...report(target, verified, null), kind: 'force_password_reset' as const, handover } },
    ],
  });
  render(ActionDialog, { request: { intent: 'force_password_reset', targets: [target], title: 'Reset' }, onclose: () => {} });
  await screen.findAllByTestId('plan-step');
  await fireEvent.click(screen.getByTestId('confirm-run'));
  return screen.findByTestId('handover');
}

describe('ActionDialog', () => {
  it('shows exactly the planned steps and runs nothing before the analyst confirms', async () => {
    const calls = mockBackend({ plan_action: () => plan, run_steps: () => [] });
    const onclose = vi.fn();
    render(ActionDialog, { request: { intent: 'revoke_session', targets: ['s-1', 's-2', 's-3'], title: 'Revoke 3 sessions' }, onclose });

    const steps = await screen.findAllByTestId('plan-step');
    expect(steps.map((s) => s.textContent)).toEqual(plan.map((p) => expect.stringContaining(p.description)));
    expect(calls.map((c) => c.cmd)).toEqual(['plan_action']);
    expect(calls[0]?.args).toEqual({ intent: 'revoke_session', targets: ['s-1', 's-2', 's-3'] });

    // The dangerous button is never the default focus.
    const run = screen.getByTestId('confirm-run');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('confirm-cancel')));
    expect(document.activeElement).not.toBe(run);

    // Esc cancels without running anything.
    await fireEvent.keyDown(screen.getByTestId('confirm-dialog'), { key: 'Escape' });
    expect(onclose).toHaveBeenCalledWith(false);
    expect(calls.some((c) => c.cmd === 'run_steps')).toBe(false);
  });

  it('Cancel closes without running', async () => {
    const calls = mockBackend({ plan_action: () => plan });
    const onclose = vi.fn();
    render(ActionDialog, { request: { intent: 'revoke_session', targets: ['s-1'], title: 'Revoke session' }, onclose });
    await screen.findAllByTestId('plan-step');
    await fireEvent.click(screen.getByTestId('confirm-cancel'));
    expect(onclose).toHaveBeenCalledWith(false);
    expect(calls.map((c) => c.cmd)).toEqual(['plan_action']);
  });

  it('reports progress, then each result: verified, failed, skipped, with the residual window', async () => {
    const ctl: { send?: (p: Progress) => void; finish?: (r: ItemResult[]) => void } = {};
    const calls = mockBackend({
      plan_action: () => plan,
      run_steps: (args) => {
        const channel = args.onProgress as { onmessage: (p: Progress) => void };
        ctl.send = (p) => channel.onmessage(p);
        return new Promise<ItemResult[]>((resolve) => (ctl.finish = resolve));
      },
      cancel_steps: () => null,
    });
    const onclose = vi.fn();
    render(ActionDialog, { request: { intent: 'revoke_session', targets: ['s-1', 's-2', 's-3'], title: 'Revoke 3 sessions' }, onclose });
    await screen.findAllByTestId('plan-step');
    await fireEvent.click(screen.getByTestId('confirm-run'));

    const progress = await screen.findByTestId('action-progress');
    expect(progress.dataset.done).toBe('0');
    expect(progress.dataset.total).toBe('3');
    const runCall = calls.find((c) => c.cmd === 'run_steps');
    expect(runCall?.args.steps).toEqual(plan);

    must(ctl.send, 'channel')({ done: 1, total: 3 });
    await settle();
    expect(screen.getByTestId('action-progress').dataset.done).toBe('1');

    await fireEvent.click(screen.getByTestId('action-cancel'));
    await settle();
    expect(calls.some((c) => c.cmd === 'cancel_steps')).toBe(true);

    const until = new Date(Date.now() + 252_000).toISOString(); // 4:12 from now
    must(ctl.finish, 'run_steps')([
      { status: 'done', step: must(plan[0]), report: report('s-1', true, until) },
      { status: 'failed', step: must(plan[1]), error: 'the backend failed (502): bad gateway' },
      { status: 'skipped', step: must(plan[2]) },
    ]);

    const results = await screen.findAllByTestId('action-result');
    expect(results.map((r) => [r.dataset.status, r.dataset.verified])).toEqual([
      ['done', 'true'],
      ['failed', 'false'],
      ['skipped', 'false'],
    ]);
    expect(results[0]?.textContent).toContain('session s-1 is no longer active');
    expect(results[1]?.textContent).toContain('bad gateway');
    expect(results[2]?.textContent).toContain('Not run (cancelled)');

    const residual = screen.getByTestId('residual');
    expect(residual.textContent).toContain('a stolen access token could be accepted for another');
    expect(residual.textContent).toMatch(/4:1[12]/);

    await fireEvent.click(screen.getByTestId('close-dialog'));
    expect(onclose).toHaveBeenCalledWith(true);
  });

  it('says 0 when the backend enforces revocation, and the countdown runs down', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const until = new Date(Date.now() + 65_000).toISOString();
    mockBackend({
      plan_action: () => plan.slice(0, 2),
      run_steps: () => [
        { status: 'done', step: plan[0], report: report('s-1', true, null) },
        { status: 'done', step: plan[1], report: report('s-2', false, until) },
      ],
    });
    render(ActionDialog, { request: { intent: 'revoke_session', targets: ['s-1', 's-2'], title: 'Revoke' }, onclose: () => {} });
    await waitFor(() => expect(screen.getAllByTestId('plan-step')).toHaveLength(2));
    await fireEvent.click(screen.getByTestId('confirm-run'));
    await waitFor(() => expect(screen.getAllByTestId('action-result')).toHaveLength(2));

    const [first, second] = screen.getAllByTestId('residual');
    expect(first?.textContent).toContain('0');
    expect(first?.textContent).toContain('the backend refuses revoked tokens on every request');
    expect(second?.textContent).toContain('1:05');
    expect(screen.getAllByTestId('action-result')[1]?.dataset.verified).toBe('false');

    vi.advanceTimersByTime(10_000);
    await settle();
    expect(screen.getAllByTestId('residual')[1]?.textContent).toContain('0:55');
  });

  it('shows a password-change link once, as text, with its expiry', async () => {
    const url = 'https://acme.auth0.test/lo/reset?ticket=T1<b>x</b>#';
    const handover = await runResetHandingOver('auth0|1', false, {
      kind: 'password_change_ticket',
      urlOrCode: url,
      expiresAt: '2026-12-02T10:00:00Z',
      note: 'Give it through a channel you have verified.',
    });
    expect(handover.querySelector('code')?.textContent).toBe(url);
    expect(handover.querySelector('b')).toBeNull();
    expect(handover.textContent).toContain('verified');
    expect(handover.textContent).toContain('2026-12-02');
  });

  it('shows no link block when the action created none', async () => {
    mockBackend({ plan_action: () => plan.slice(0, 1), run_steps: () => [{ status: 'done', step: plan[0], report: report('s-1', true, null) }] });
    render(ActionDialog, { request: { intent: 'revoke_session', targets: ['s-1'], title: 'Revoke' }, onclose: () => {} });
    await screen.findAllByTestId('plan-step');
    await fireEvent.click(screen.getByTestId('confirm-run'));
    await screen.findAllByTestId('action-result');
    expect(screen.queryByTestId('handover')).toBeNull();
  });

  it('shows a planning error by kind and offers no way to run', async () => {
    mockBackend({
      plan_action: () => {
        throw ipcError('Validation', 'the token has no jti');
      },
    });
    render(ActionDialog, { request: { intent: 'revoke_token', targets: ['abc'], title: 'Revoke token' }, onclose: () => {} });
    const banner = await screen.findByTestId('error-banner');
    expect(banner.dataset.kind).toBe('Validation');
    expect(banner.textContent).toContain('the token has no jti');
    expect((screen.getByTestId('confirm-run') as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows a recovery code minted for the owner once, as text, with its expiry', async () => {
    const box = await runResetHandingOver('i1', true, {
      kind: 'recovery_code',
      urlOrCode: '<b>48213377</b>',
      expiresAt: '2026-12-01T12:00:00Z',
      note: 'Re-activate the identity first.',
    });
    expect(box.textContent).toContain('recovery_code');
    expect(box.textContent).toContain('<b>48213377</b>');
    expect(box.querySelector('b')).toBeNull();
    expect(box.textContent).toContain('2026-12-01');
    expect(box.textContent).toContain('Re-activate the identity first.');
  });

  it('revokes a token from the inspector as held, so it is verified by introspection, not by run_steps', async () => {
    const revoke = step('revoke_token', 'jti-9', 'Revoke token jti-9.');
    const token = 'eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJqdGktOSJ9.c2ln';
    const calls = mockBackend({
      plan_action: () => [revoke],
      revoke_held_token: () => ({
        ...report('jti-9', true, '2026-12-01T12:05:00Z'),
        kind: 'revoke_token' as const,
        sessionsRevoked: [],
        checks: [{ what: 'verified by RFC 7662 introspection at https://idp.test/introspect: token jti-9 is inactive (active: false)', ok: true }],
      }),
    });
    render(ActionDialog, {
      request: { intent: 'revoke_token', targets: [token], title: 'Revoke this token', heldToken: token },
      onclose: () => {},
    });
    await screen.findAllByTestId('plan-step');
    await fireEvent.click(screen.getByTestId('confirm-run'));
    const result = await screen.findByTestId('action-result');
    expect(result.dataset.verified).toBe('true');
    expect(result.textContent).toContain('RFC 7662 introspection');
    expect(calls.map((c) => c.cmd)).toEqual(['plan_action', 'revoke_held_token']);
    expect(calls[1]?.args).toEqual({ token });
  });
});
