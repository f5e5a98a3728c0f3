import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import SessionsView from '../src/views/SessionsView.svelte';
import { app } from '../src/lib/app.svelte';
import { resetSessionsUi, sessionsUi } from '../src/lib/sessions.svelte';
import type { UserQuery, SessionQuery } from '../src/lib/ipc';
import { ipcError, mockBackend, must, session, settle, user } from './fixtures';

beforeEach(() => {
  app.reset();
  app.lastSync = '2024-05-01T12:00:00Z';
  resetSessionsUi();
});

afterEach(() => {
  cleanup();
  clearMocks();
  vi.useRealTimers();
});

function usersPage(total: number, make = user) {
  return (args: Record<string, unknown>) => {
    const q = args.query as UserQuery;
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 100;
    const rows = [];
    for (let i = offset; i < Math.min(total, offset + limit); i++) rows.push(make(i));
    return { total, offset, rows };
  };
}

function sessionsPage(total: number, make = session) {
  return (args: Record<string, unknown>) => {
    const q = args.query as SessionQuery;
    const offset = q.offset ?? 0;
    const rows = [];
    for (let i = offset; i < Math.min(total, offset + (q.limit ?? 100)); i++) rows.push(make(i));
    return { total, offset, rows };
  };
}

describe('SessionsView states', () => {
  it('shows a skeleton while the first page loads', async () => {
    mockBackend({ list_users: () => new Promise(() => {}) });
    render(SessionsView);
    expect(await screen.findByLabelText('Loading')).toBeTruthy();
    expect(screen.queryByTestId('users-table')).toBeNull();
  });

  it('says "Sync to load data" before any sync, and "No sessions match these filters" when filtered', async () => {
    app.lastSync = null;
    mockBackend({ list_users: () => ({ total: 0, offset: 0, rows: [] }), sync_now: () => new Promise(() => {}) });
    const view = render(SessionsView);
    expect(await screen.findByText('Sync to load data')).toBeTruthy();
    view.unmount();

    resetSessionsUi();
    sessionsUi.minSeverity = 'critical';
    render(SessionsView);
    expect(await screen.findByText('No sessions match these filters')).toBeTruthy();
  });

  it('Unauthorized offers to re-enter the credential', async () => {
    mockBackend({
      list_users: () => {
        throw ipcError('Unauthorized', 'the backend refused the credential (401): invalid_client');
      },
    });
    render(SessionsView);
    const banner = await screen.findByTestId('error-banner');
    expect(banner.dataset.kind).toBe('Unauthorized');
    expect(banner.textContent).toContain('The backend refused the credential — re-enter it');
    await fireEvent.click(screen.getByTestId('reenter-credential'));
    expect(app.connectOpen).toBe(true);
  });

  it('RateLimited counts down, then retries by itself', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let fail = true;
    const calls = mockBackend({
      list_users: (args) => {
        if (fail) throw ipcError('RateLimited', 'the backend is rate limiting us; retries exhausted (retry after Some(3) s)');
        return usersPage(3)(args);
      },
    });
    render(SessionsView);
    const banner = await screen.findByTestId('error-banner');
    expect(banner.dataset.kind).toBe('RateLimited');
    expect(banner.textContent).toContain('Rate limited by the backend — retrying in 3s');
    vi.advanceTimersByTime(1000);
    await settle();
    expect(screen.getByTestId('error-banner').textContent).toContain('retrying in 2s');
    fail = false;
    vi.advanceTimersByTime(2000);
    await waitFor(() => expect(screen.getAllByTestId('user-row')).toHaveLength(3));
    expect(screen.queryByTestId('error-banner')).toBeNull();
    expect(calls.filter((c) => c.cmd === 'list_users').length).toBe(2);
  });

  it('Upstream says the backend is unreachable and retries on click', async () => {
    let fail = true;
    const calls = mockBackend({
      list_users: (args) => {
        if (fail) throw ipcError('Upstream', 'cannot reach the backend: connection refused');
        return usersPage(2)(args);
      },
    });
    render(SessionsView);
    const banner = await screen.findByTestId('error-banner');
    expect(banner.dataset.kind).toBe('Upstream');
    expect(banner.textContent).toContain('Backend unreachable');
    fail = false;
    await fireEvent.click(screen.getByTestId('retry'));
    await waitFor(() => expect(screen.getAllByTestId('user-row')).toHaveLength(2));
    expect(calls.filter((c) => c.cmd === 'list_users').length).toBe(2);
  });
});

describe('SessionsView rendering', () => {
  it('renders hostile backend strings as text, never as markup', async () => {
    const name = '<img src=x onerror=alert(1)>';
    const ua = '<script>alert(1)</script>';
    mockBackend({
      list_users: usersPage(1, (i) => user(i, { displayName: name, username: '<b>bold</b>', risk: 'critical', findings: 1 })),
      list_sessions: sessionsPage(1, (i) => session(i, { userId: 'u-0', device: null, userAgent: ua, city: '<i>Lagos</i>' })),
      sparklines: () => [],
    });
    const { container } = render(SessionsView);
    const row = must((await screen.findAllByTestId('user-row'))[0]);
    expect(row.textContent).toContain(name);
    expect(row.textContent).toContain('<b>bold</b>');
    expect(row.querySelector('b')).toBeNull();
    expect(screen.getAllByTestId('risk-badge')[0]?.textContent).toBe('critical');

    await fireEvent.click(row);
    const srow = must((await screen.findAllByTestId('session-row'))[0]);
    expect(srow.textContent).toContain(ua);
    expect(srow.textContent).toContain('<i>Lagos</i>');
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('i')).toBeNull();
    for (const img of container.querySelectorAll('img')) expect(img.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
  });

  it('keeps only a window of rows in the DOM for 100000 users and fetches pages on scroll', async () => {
    const calls = mockBackend({ list_users: usersPage(100000) });
    render(SessionsView);
    await waitFor(() => expect(screen.getAllByTestId('user-row').length).toBeGreaterThan(5));
    const rendered = screen.getAllByTestId('user-row').length;
    expect(rendered).toBeLessThan(80);
    expect(screen.getByTestId('users-table').getAttribute('aria-rowcount')).toBe('100000');
    const offsets = () => calls.filter((c) => c.cmd === 'list_users').map((c) => (c.args.query as UserQuery).offset);
    expect(offsets()).toEqual([0]);

    const list = screen.getByTestId('users-table');
    list.scrollTop = 50000 * 32;
    await fireEvent.scroll(list);
    await waitFor(() => expect(screen.getAllByTestId('user-row').some((r) => r.dataset.userId === 'u-50000')).toBe(true));
    expect(offsets()).toContain(50000);
    expect(screen.getAllByTestId('user-row').length).toBeLessThan(80);
  });

  it('moves with j/k, expands with Enter and fetches sparklines for the visible sessions only', async () => {
    const calls = mockBackend({
      list_users: usersPage(5),
      list_sessions: sessionsPage(3, (i) => session(i, { userId: 'u-1' })),
      sparklines: (args) => (args.sessionIds as string[]).map((id) => ({ sessionId: id, svg: '<svg/>' })),
    });
    render(SessionsView);
    await screen.findAllByTestId('user-row');
    await fireEvent.keyDown(window, { key: 'j' });
    await fireEvent.keyDown(window, { key: 'j' });
    expect(screen.getAllByTestId('user-row')[1]?.classList.contains('cursor')).toBe(true);
    await fireEvent.keyDown(window, { key: 'Enter' });
    await waitFor(() => expect(screen.getAllByTestId('session-row')).toHaveLength(3));
    const q = calls.find((c) => c.cmd === 'list_sessions')?.args.query as SessionQuery;
    expect(q.userId).toBe('u-1');
    await waitFor(() => expect(calls.some((c) => c.cmd === 'sparklines')).toBe(true));
    const spark = must(calls.find((c) => c.cmd === 'sparklines'));
    expect(spark.args).toEqual({ sessionIds: ['s-0', 's-1', 's-2'], theme: app.theme });
    await waitFor(() => expect(screen.getAllByAltText(/Request rate of session/)).toHaveLength(3));
  });

  it('flat mode: filters reach the query, and ticked sessions go to "Revoke selected"', async () => {
    const calls = mockBackend({ list_users: usersPage(1), list_sessions: sessionsPage(4), sparklines: () => [] });
    render(SessionsView);
    await screen.findAllByTestId('user-row');
    await fireEvent.click(screen.getByTestId('view-mode-sessions'));
    await waitFor(() => expect(screen.getAllByTestId('session-row')).toHaveLength(4));

    await fireEvent.click(screen.getByTestId('filter-active'));
    await waitFor(() => {
      const last = calls.filter((c) => c.cmd === 'list_sessions').at(-1)?.args.query as SessionQuery;
      expect(last.activeOnly).toBe(true);
    });
    await waitFor(() => expect(screen.getAllByTestId('session-row')).toHaveLength(4));

    expect((screen.getByTestId('bulk-revoke') as HTMLButtonElement).disabled).toBe(true);
    const boxes = screen.getAllByTestId('select-session');
    await fireEvent.click(must(boxes[0]));
    await fireEvent.click(must(boxes[2]));
    await fireEvent.click(screen.getByTestId('bulk-revoke'));
    expect(app.action?.intent).toBe('revoke_session');
    expect(app.action?.targets).toEqual(['s-0', 's-2']);
    // Nothing ran: the dialog plans first.
    expect(calls.some((c) => c.cmd === 'run_steps' || c.cmd === 'plan_action')).toBe(false);
  });
});

describe('SessionsView memory', () => {
  it('keeps ticked rows, cursor and scroll when the analyst opens a detail and comes back', async () => {
    mockBackend({ list_users: usersPage(1000) });
    const first = render(SessionsView);
    await screen.findAllByTestId('user-row');
    await fireEvent.click(must(screen.getAllByTestId('select-user')[1]));
    const list = screen.getByTestId('users-table');
    list.scrollTop = 320;
    await fireEvent.scroll(list);
    first.unmount();

    render(SessionsView);
    await waitFor(() => expect(screen.getByTestId('users-table').scrollTop).toBe(320));
    const ticked = screen.getAllByTestId('select-user').filter((b) => (b as HTMLInputElement).checked);
    expect(ticked).toHaveLength(1);
    expect(screen.getByTestId('bulk-contain').textContent).toContain('(1)');
  });
});
