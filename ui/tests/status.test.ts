import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import StatusPanel from '../src/components/StatusPanel.svelte';
import type { AppStatus } from '../src/lib/ipc';

const status = (reachable: boolean): AppStatus => ({
  version: '0.1.0',
  dataDir: '/home/a/.local/share/gatehouse',
  configDir: '/home/a/.config/gatehouse',
  keyring: {
    backend: 'Secret Service (D-Bus)',
    namespace: 'test',
    reachable,
    detail: reachable ? null : 'org.freedesktop.DBus.Error.ServiceUnknown',
  },
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe('StatusPanel', () => {
  it('shows the status from app_status and checks again on click', async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      return status(calls.length > 1);
    });
    render(StatusPanel);

    expect(await screen.findByText('Not reachable')).toBeTruthy();
    expect(screen.getByTestId('keyring-detail').textContent).toContain('ServiceUnknown');
    expect(screen.getByTestId('data-dir').textContent).toBe('/home/a/.local/share/gatehouse');

    await fireEvent.click(screen.getByRole('button', { name: 'Check again' }));
    expect(await screen.findByText('Reachable')).toBeTruthy();
    expect(calls).toEqual(['app_status', 'app_status']);
    expect(screen.getByTestId('checks').textContent).toContain('Checked 2 times');
  });

  it('shows a typed error from the command', async () => {
    mockIPC(() => {
      throw { kind: 'Upstream', message: 'the OS keyring is not reachable' };
    });
    render(StatusPanel);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Upstream');
    expect(alert.textContent).toContain('the OS keyring is not reachable');
  });

  it('renders backend strings as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    mockIPC(() => ({ ...status(false), keyring: { ...status(false).keyring, detail: hostile } }));
    render(StatusPanel);
    const detail = await screen.findByTestId('keyring-detail');
    expect(detail.textContent).toBe(hostile);
    expect(detail.querySelector('img')).toBeNull();
  });
});
