// Pure formatting helpers: times in UTC plus a relative hint, human durations, SVG as an image URL.
import type { Severity } from './ipc';

/** An SVG string from the core as an <img> source: an image never runs script. */
export function svgDataUrl(svg: string): string {
  return 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
}

function toDate(t: string | Date | null | undefined): Date | null {
  if (t == null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `2024-05-01 12:03:04Z`. */
export function utc(t: string | Date | null | undefined): string {
  const d = toDate(t);
  if (!d) return '—';
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`
  );
}

/** `12:03:04Z` for dense tables where the date is implied. */
export function utcTime(t: string | Date | null | undefined): string {
  const d = toDate(t);
  if (!d) return '—';
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** "45 s", "3 min", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** "3 min ago" / "in 5 min" relative to `now`. */
export function relative(t: string | Date | null | undefined, now: number): string {
  const d = toDate(t);
  if (!d) return '';
  const diff = d.getTime() - now;
  if (Math.abs(diff) < 5000) return 'just now';
  return diff < 0 ? `${duration(-diff)} ago` : `in ${duration(diff)}`;
}

/** A countdown as `m:ss` (or `h:mm:ss`); 0:00 once passed. */
export function countdown(until: string | Date | null | undefined, now: number): string {
  const d = toDate(until);
  if (!d) return '0:00';
  const s = Math.max(0, Math.ceil((d.getTime() - now) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

export function secondsUntil(until: string | Date | null | undefined, now: number): number {
  const d = toDate(until);
  return d ? Math.max(0, Math.ceil((d.getTime() - now) / 1000)) : 0;
}

export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

export function isActionable(s: Severity | null | undefined): boolean {
  return s === 'high' || s === 'critical';
}

/** `impossible_travel` → "Impossible travel". */
export function humanKind(kind: string): string {
  const t = kind.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function place(city: string | null | undefined, country: string | null | undefined): string {
  if (city && country) return `${city}, ${country}`;
  return city || country || '—';
}

export function network(asn: number | null | undefined, org: string | null | undefined): string {
  if (asn != null && org) return `AS${asn} ${org}`;
  if (asn != null) return `AS${asn}`;
  return org || '—';
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
