import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import IncidentsView from '../src/views/IncidentsView.svelte';
import IncidentDetail from '../src/views/IncidentDetail.svelte';
import CreateIncidentDialog from '../src/components/CreateIncidentDialog.svelte';
import ExportDialog from '../src/components/ExportDialog.svelte';
import { app } from '../src/lib/app.svelte';
import type { ExportResult, ExportStage, Incident, ReportData } from '../src/lib/ipc';
import { finding, ipcError, mockBackend, must, overview, session, user } from './fixtures';

const HOSTILE = '<img src=x onerror=alert(1)>';

function incident(o: Partial<Incident> = {}): Incident {
  return {
    id: 'inc-1',
    profile: 'demo',
    title: `Stolen session ${HOSTILE}`,
    severity: 'high',
    status: 'open',
    notes: 'Replayed from Changchun.',
    createdBy: 'analyst',
    createdAt: '2024-05-01T12:00:00Z',
    updatedAt: '2024-05-01T12:00:00Z',
    closedAt: null,
    users: ['u-1'],
    sessions: ['s-1'],
    findings: ['f-1'],
    ...o,
  };
}

function report(o: Partial<ReportData> = {}): ReportData {
  return {
    incident: incident(),
    generatedAt: '2024-05-01T12:05:00Z',
    generatedBy: 'analyst',
    generator: 'Gatehouse 0.1.0',
    users: [user(1)],
    sessions: [session(1)],
    findings: [finding('f-1')],
    actions: [
      {
        at: '2024-05-01T12:01:00Z',
        actionId: 'act_1',
        kind: 'revoke_session',
        target: 's-1',
        actor: 'analyst',
        outcome: 'succeeded',
        verified: true,
        checks: [{ what: 'session s-1 is no longer active', ok: true }],
        residual: { until: null, note: 'revocation enforced on every request' },
        sessionsRevoked: ['s-1'],
        error: null,
        auditSeq: 3,
        auditHash: 'ab',
      },
    ],
    timeline: [
      { at: '2024-05-01T11:00:00Z', source: 'event', subject: 's-1', summary: 'GET /api/me → 200', ip: '81.2.69.142', place: 'London, GB', notable: false },
      { at: '2024-05-01T11:30:00Z', source: 'event', subject: 's-1', summary: `GET /api/${HOSTILE} → 200`, ip: '175.16.199.1', place: 'Changchun, CN', notable: true },
      { at: '2024-05-01T11:31:00Z', source: 'finding', subject: 'f-1', summary: 'impossible_travel finding', ip: null, place: null, notable: true },
      { at: '2024-05-01T12:01:00Z', source: 'action', subject: 's-1', summary: 'revoke_session s-1: succeeded, verified', ip: null, place: null, notable: true },
    ],
    timelineTruncated: false,
    charts: [],
    geoipAttribution: null,
    ...o,
  };
}

beforeEach(() => {
  app.reset();
  app.overview = overview();
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe('IncidentsView', () => {
  it('lists incidents with their titles as text and opens one', async () => {
    mockBackend({ list_incidents: () => [incident(), incident({ id: 'inc-2', title: 'Second', status: 'closed', severity: 'low' })] });
    const { container } = render(IncidentsView);
    const rows = await screen.findAllByTestId('incident-row');
    expect(rows).toHaveLength(2);
    expect(rows[0]?.textContent).toContain(HOSTILE);
    expect(container.querySelector('img')).toBeNull();
    await fireEvent.click(must(rows[0]?.querySelector('button')));
    expect(app.detail).toEqual({ kind: 'incident', id: 'inc-1' });
    expect(app.view).toBe('incidents');
  });

  it('says how to start when there is none, and shows errors', async () => {
    mockBackend({ list_incidents: () => [] });
    render(IncidentsView);
    expect((await screen.findByTestId('incidents-empty')).textContent).toContain('Create incident');
    cleanup();
    clearMocks();
    mockBackend({ list_incidents: () => Promise.reject(ipcError('Upstream', 'keyring unreachable')) });
    render(IncidentsView);
    expect((await screen.findByTestId('error-banner')).dataset.kind).toBe('Upstream');
    expect(screen.getByText(/keyring unreachable/)).toBeTruthy();
  });
});

describe('CreateIncidentDialog', () => {
  it('creates from a session with the analyst’s title, severity and notes', async () => {
    const calls = mockBackend({ create_incident: () => incident() });
    const oncreated = vi.fn();
    const oncancel = vi.fn();
    render(CreateIncidentDialog, {
      draft: { findings: [], sessions: ['s-1'], users: [], title: 'Stolen session of alice' },
      oncreated,
      oncancel,
    });
    const title = (await screen.findByTestId('incident-title')) as HTMLInputElement;
    expect(title.value).toBe('Stolen session of alice');
    expect(screen.getByTestId('incident-create').textContent).toContain('1 session');
    await fireEvent.input(title, { target: { value: '  Alice: token replayed  ' } });
    await fireEvent.change(screen.getByTestId('incident-severity'), { target: { value: 'critical' } });
    await fireEvent.input(screen.getByTestId('incident-notes'), { target: { value: 'called alice' } });
    await fireEvent.click(screen.getByTestId('incident-create-submit'));
    await waitFor(() => expect(oncreated).toHaveBeenCalledOnce());
    expect(calls.find((c) => c.cmd === 'create_incident')?.args).toEqual({
      incident: {
        title: 'Alice: token replayed',
        severity: 'critical',
        notes: 'called alice',
        findings: [],
        sessions: ['s-1'],
        users: [],
      },
    });
  });

  it('shows the core’s refusal and keeps the dialog open; Escape cancels', async () => {
    mockBackend({ create_incident: () => Promise.reject(ipcError('NotFound', 'no session s-9 in the local store')) });
    const oncreated = vi.fn();
    const oncancel = vi.fn();
    render(CreateIncidentDialog, { draft: { findings: [], sessions: ['s-9'], users: [], title: 't' }, oncreated, oncancel });
    await fireEvent.click(await screen.findByTestId('incident-create-submit'));
    expect(await screen.findByText(/no session s-9/)).toBeTruthy();
    expect(oncreated).not.toHaveBeenCalled();
    await fireEvent.keyDown(screen.getByTestId('incident-create'), { key: 'Escape' });
    expect(oncancel).toHaveBeenCalledOnce();
  });
});

describe('IncidentDetail', () => {
  it('shows findings, verified actions and the notable timeline; hostile strings stay text', async () => {
    mockBackend({ incident_view: () => report() });
    const { container } = render(IncidentDetail, { id: 'inc-1' });
    const detail = await screen.findByTestId('incident-detail');
    await waitFor(() => expect(detail.textContent).toContain(HOSTILE));
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByTestId('incident-status').textContent).toBe('open');
    expect(screen.getAllByTestId('finding')).toHaveLength(1);
    const action = screen.getByTestId('incident-action');
    expect(action.textContent).toContain('done, verified');
    expect(action.textContent).toContain('Residual exposure: none');
    expect(screen.getAllByTestId('incident-timeline-row')).toHaveLength(3);
    await fireEvent.click(screen.getByTestId('timeline-all'));
    expect(screen.getAllByTestId('incident-timeline-row')).toHaveLength(4);
  });

  it('closes the incident and saves notes through the core', async () => {
    let current = report();
    const calls = mockBackend({
      incident_view: () => current,
      update_incident: (args) => {
        const change = args.change as { status: Incident['status'] | null; notes: string | null };
        current = report({
          incident: incident({ status: change.status ?? current.incident.status, notes: change.notes ?? current.incident.notes }),
        });
        return current.incident;
      },
    });
    render(IncidentDetail, { id: 'inc-1' });
    await fireEvent.click(await screen.findByTestId('close-incident'));
    await waitFor(() => expect(screen.getByTestId('incident-status').textContent).toBe('closed'));
    expect(calls.find((c) => c.cmd === 'update_incident')?.args).toEqual({
      id: 'inc-1',
      change: { status: 'closed', severity: null, title: null, notes: null },
    });
    expect(screen.getByTestId('reopen-incident')).toBeTruthy();
    await fireEvent.click(screen.getByTestId('edit-notes'));
    await fireEvent.input(screen.getByTestId('notes-input'), { target: { value: 'reset done' } });
    await fireEvent.click(screen.getByTestId('notes-save'));
    await waitFor(() => expect(screen.getByTestId('incident-notes').textContent).toBe('reset done'));
  });
});

describe('ExportDialog', () => {
  const result: ExportResult = {
    format: 'pdf',
    files: ['/home/a/inc-1.pdf', '/home/a/inc-1.pdf.manifest.json'],
    manifest: '/home/a/inc-1.pdf.manifest.json',
    bytes: 12345,
    keyId: '0011223344556677',
  };

  it('exports the chosen format with progress, then shows the files and reveals them', async () => {
    const ctl: { send?: (s: ExportStage) => void; finish?: (r: ExportResult | null) => void } = {};
    const calls = mockBackend({
      export_report: (args) => {
        const channel = args.onProgress as { onmessage: (s: ExportStage) => void };
        ctl.send = (s) => channel.onmessage(s);
        return new Promise<ExportResult | null>((resolve) => (ctl.finish = resolve));
      },
      reveal_export: () => null,
    });
    render(ExportDialog, { incidentId: 'inc-1', onclose: vi.fn() });
    await fireEvent.click(await screen.findByTestId('format-pdf'));
    await fireEvent.click(screen.getByTestId('export-run'));
    await waitFor(() => expect(calls.find((c) => c.cmd === 'export_report')?.args).toMatchObject({ id: 'inc-1', format: 'pdf' }));
    must(ctl.send, 'channel')('writing');
    await waitFor(() => expect(screen.getByTestId('export-stage').textContent).toContain('Writing and signing'));
    must(ctl.finish, 'finish')(result);
    const done = await screen.findByTestId('export-result');
    expect(done.textContent).toContain('/home/a/inc-1.pdf.manifest.json');
    expect(done.textContent).toContain('0011223344556677');
    await fireEvent.click(screen.getByTestId('show-in-folder'));
    await waitFor(() => expect(calls.find((c) => c.cmd === 'reveal_export')?.args).toEqual({ path: '/home/a/inc-1.pdf' }));
  });

  it('a closed save dialog exports nothing; a failed export says why', async () => {
    let answer: () => unknown = () => null;
    mockBackend({ export_report: () => answer() });
    render(ExportDialog, { incidentId: 'inc-1', onclose: vi.fn() });
    await fireEvent.click(await screen.findByTestId('export-run'));
    expect(await screen.findByTestId('export-cancelled')).toBeTruthy();
    answer = () => Promise.reject(ipcError('Validation', 'cannot write the report to /ro/x.html: permission denied'));
    await fireEvent.click(screen.getByTestId('export-run'));
    expect(await screen.findByText(/permission denied/)).toBeTruthy();
    expect(screen.queryByTestId('export-result')).toBeNull();
  });
});
