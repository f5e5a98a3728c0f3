import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { api, CommandError } from '../src/lib/ipc';

afterEach(() => clearMocks());

describe('CommandError.from', () => {
  it('keeps the kind and message of an IpcError', () => {
    const e = CommandError.from({ kind: 'RateLimited', message: 'slow down' });
    expect(e.kind).toBe('RateLimited');
    expect(e.message).toBe('slow down');
  });

  it('treats unknown kinds and bare strings as Internal', () => {
    expect(CommandError.from({ kind: 'Bogus', message: 'x' }).kind).toBe('Internal');
    const denied = CommandError.from('app_status not allowed by ACL');
    expect(denied.kind).toBe('Internal');
    expect(denied.message).toContain('not allowed');
    expect(CommandError.from(undefined).message).toBe('Unexpected error');
  });
});

describe('api', () => {
  it('returns data on success and throws CommandError on a command error', async () => {
    let fail = false;
    mockIPC((cmd) => {
      if (cmd !== 'app_status') throw new Error(`unexpected command ${cmd}`);
      if (fail) throw { kind: 'Unauthorized', message: 'denied' };
      return { version: '9.9.9' };
    });
    expect((await api.appStatus()).version).toBe('9.9.9');
    fail = true;
    await expect(api.appStatus()).rejects.toMatchObject({ name: 'CommandError', kind: 'Unauthorized' });
  });
});

describe('api.runSteps and onLiveUpdate', () => {
  it('passes a channel to run_steps and forwards its progress', async () => {
    const { onLiveUpdate } = await import('../src/lib/ipc');
    mockIPC((cmd, payload) => {
      if (cmd !== 'run_steps') throw new Error(`unexpected command ${cmd}`);
      const channel = (payload as { onProgress: { onmessage: (p: unknown) => void } }).onProgress;
      channel.onmessage({ done: 1, total: 2 });
      channel.onmessage({ done: 2, total: 2 });
      return [];
    });
    const seen: unknown[] = [];
    await expect(api.runSteps([], (p) => seen.push(p))).resolves.toEqual([]);
    expect(seen).toEqual([{ done: 1, total: 2 }, { done: 2, total: 2 }]);
    expect(typeof onLiveUpdate).toBe('function');
  });

  it('delivers live-update payloads and unsubscribes', async () => {
    const { onLiveUpdate } = await import('../src/lib/ipc');
    const { emitEvent } = await import('./fixtures');
    mockIPC(() => null, { shouldMockEvents: true });
    const got: unknown[] = [];
    const stop = await onLiveUpdate((u) => got.push(u.nextInSecs));
    await emitEvent('live-update', { at: 'x', outcome: null, error: null, nextInSecs: 30 });
    stop();
    await emitEvent('live-update', { at: 'y', outcome: null, error: null, nextInSecs: 60 });
    expect(got).toEqual([30]);
  });
});
