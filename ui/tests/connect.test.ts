import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import ConnectForm from '../src/components/ConnectForm.svelte';
import { mockBackend } from './fixtures';

afterEach(() => {
  cleanup();
  clearMocks();
});

const check = {
  reachable: true,
  authenticated: true,
  permissions: [['sessions:read', true]],
  capabilities: {
    listSessionsTenantWide: true,
    listSessionsPerUser: true,
    activity: true,
    revokeSession: true,
    revokeUserSessions: true,
    revokeToken: true,
    forceResetWithMfa: true,
    suspendUser: true,
    enforcesAccessTokenRevocation: true,
    accessTokenLifetimeSecs: 600,
  },
  warnings: [] as string[],
  limitations: [] as string[],
};

describe('ConnectForm', () => {
  it('re-entering a refused credential replaces only the secret, clears it, then tests the profile', async () => {
    const calls = mockBackend({ replace_profile_secret: () => null, test_profile: () => check });
    render(ConnectForm, {
      initial: { name: 'prod', kind: 'authd', baseUrl: 'https://idp.example.com/', clientId: 'console', isDefault: true },
      onconnected: () => {},
    });
    const name = screen.getByLabelText('Profile name') as HTMLInputElement;
    expect(name.readOnly).toBe(true);
    expect(name.value).toBe('prod');
    const secret = screen.getByLabelText('Client secret') as HTMLInputElement;
    await fireEvent.input(secret, { target: { value: 'n3w-s3cret' } });
    await fireEvent.click(screen.getByTestId('connect-submit'));
    await screen.findByTestId('connection-check');
    const replaced = calls.find((c) => c.cmd === 'replace_profile_secret');
    expect(replaced?.args).toMatchObject({ name: 'prod', secret: 'n3w-s3cret' });
    expect(calls.some((c) => c.cmd === 'add_profile')).toBe(false);
    await waitFor(() => expect(calls.some((c) => c.cmd === 'test_profile')).toBe(true));
  });

  it('a new profile goes through addProfile with the secret', async () => {
    const calls = mockBackend({
      add_profile: () => ({ name: 'local', kind: 'authd', baseUrl: 'http://127.0.0.1:8420/', clientId: 'c', isDefault: true }),
      test_profile: () => check,
    });
    render(ConnectForm, { onconnected: () => {} });
    await fireEvent.input(screen.getByLabelText('Profile name'), { target: { value: 'local' } });
    await fireEvent.input(screen.getByLabelText('Base URL'), { target: { value: 'http://127.0.0.1:8420' } });
    await fireEvent.input(screen.getByLabelText('Client id'), { target: { value: 'c' } });
    await fireEvent.input(screen.getByLabelText('Client secret'), { target: { value: 's' } });
    await fireEvent.click(screen.getByTestId('connect-submit'));
    await screen.findByTestId('connection-check');
    expect(calls.find((c) => c.cmd === 'add_profile')?.args).toMatchObject({
      form: { name: 'local', kind: 'authd', baseUrl: 'http://127.0.0.1:8420', clientId: 'c', secret: 's' },
    });
  });

  it('a Keycloak profile sends its realm; the check shows warnings and limitations as text', async () => {
    const calls = mockBackend({
      add_profile: () => ({ name: 'kc', kind: 'keycloak', baseUrl: 'https://sso.example.com/', clientId: 'gh', isDefault: true }),
      test_profile: () => ({
        ...check,
        warnings: ['the credential is broader than needed (realm-admin) <b>x</b>'],
        limitations: ['An admin cannot revoke a single access token'],
      }),
    });
    render(ConnectForm, { onconnected: () => {} });
    await fireEvent.input(screen.getByLabelText('Profile name'), { target: { value: 'kc' } });
    await fireEvent.change(screen.getByLabelText('Backend'), { target: { value: 'keycloak' } });
    await fireEvent.input(screen.getByLabelText('Base URL'), { target: { value: 'https://sso.example.com' } });
    await fireEvent.input(screen.getByLabelText('Realm'), { target: { value: 'acme' } });
    await fireEvent.input(screen.getByLabelText('Client id'), { target: { value: 'gh' } });
    await fireEvent.input(screen.getByLabelText('Client secret'), { target: { value: 's' } });
    await fireEvent.click(screen.getByTestId('connect-submit'));
    await screen.findByTestId('connection-check');
    expect(calls.find((c) => c.cmd === 'add_profile')?.args).toMatchObject({
      form: { kind: 'keycloak', realm: 'acme', clientId: 'gh', secret: 's', auth: null },
    });
    const warnings = screen.getByTestId('check-warnings');
    expect(warnings.textContent).toContain('<b>x</b>');
    expect(warnings.querySelector('b')).toBeNull();
    expect(screen.getByTestId('check-limitations').textContent).toContain('cannot revoke');
  });

  it('a Kratos OSS admin port needs no client id and no secret; Ory Network asks for an API key', async () => {
    const calls = mockBackend({
      add_profile: () => ({ name: 'ory', kind: 'kratos', baseUrl: 'http://127.0.0.1:4434/', clientId: '', isDefault: true }),
      test_profile: () => check,
    });
    render(ConnectForm, { onconnected: () => {} });
    await fireEvent.input(screen.getByLabelText('Profile name'), { target: { value: 'ory' } });
    await fireEvent.change(screen.getByLabelText('Backend'), { target: { value: 'kratos' } });
    expect(screen.queryByLabelText('Client id')).toBeNull();
    expect(screen.getByTestId('no-secret')).toBeTruthy();
    await fireEvent.change(screen.getByLabelText('Authentication'), { target: { value: 'bearer' } });
    expect(screen.getByLabelText('API key')).toBeTruthy();
    await fireEvent.change(screen.getByLabelText('Authentication'), { target: { value: 'none' } });
    await fireEvent.input(screen.getByLabelText('Admin API URL'), { target: { value: 'http://127.0.0.1:4434' } });
    await fireEvent.click(screen.getByTestId('connect-submit'));
    await screen.findByTestId('connection-check');
    expect(calls.find((c) => c.cmd === 'add_profile')?.args).toMatchObject({
      form: { kind: 'kratos', auth: 'none', secret: null, clientId: '' },
    });
  });
});
