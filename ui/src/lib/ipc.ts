// The UI's only door to the Rust side. It wraps the generated bindings (src/lib/bindings.ts) so
// that components get plain values or a thrown CommandError with the closed set of kinds.
import { commands, type AppStatus, type ErrorKind, type IpcError, type KeyringHealth } from './bindings';

export type { AppStatus, ErrorKind, KeyringHealth };

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

async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await call;
  } catch (e) {
    throw CommandError.from(e);
  }
  if (r.status === 'ok') return r.data;
  throw CommandError.from(r.error);
}

export const api = {
  appStatus: (): Promise<AppStatus> => unwrap(commands.appStatus()),
};
