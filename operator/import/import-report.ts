/*
 * operator/import/import-report - what the Exchange importer did not carry over, changed, or
 * wants a human to look at, per Exchange object.
 *
 * Nothing is dropped silently: every property of every exported object is either mapped to a
 * field or listed here with the reason. The same lines go to stdout and, per object, into a
 * YAML comment above the object they concern.
 */

export type ReportKind =
  /** The property has no counterpart; the reason says why that is safe or what to do. */
  | 'unmapped'
  /** Mapped, but to a value that differs from Exchange's; the reason says why. */
  | 'changed'
  /** Needs a decision or an action (open relay, Secrets to create, hub labels). */
  | 'action'
  /** Several Exchange servers' connectors became one object. */
  | 'merged';

export interface ReportEntry {
  kind: ReportKind;
  /** `ReceiveConnector EX1\Relay`, `AcceptedDomain contoso.com`, ... */
  subject: string;
  /** The Exchange property (or ACE) concerned. */
  property: string;
  /** Its value as exported, shortened. */
  value: string;
  reason: string;
}

export class ImportReport {
  readonly entries: ReportEntry[] = [];

  add(kind: ReportKind, subject: string, property: string, value: unknown, reason: string): void {
    this.entries.push({ kind, subject, property, value: shortValue(value), reason });
  }

  /** linesFor - the report lines about these Exchange objects, for a YAML comment. */
  linesFor(subjects: readonly string[]): string[] {
    return this.entries.filter((e) => subjects.includes(e.subject)).map(formatEntry);
  }

  /** lines - the whole report, actions first, then changes, then unmapped properties. */
  lines(): string[] {
    const order: ReportKind[] = ['action', 'merged', 'changed', 'unmapped'];
    return order.flatMap((kind) => this.entries.filter((e) => e.kind === kind).map((e) => `${e.subject}: ${formatEntry(e)}`));
  }
}

function formatEntry(entry: ReportEntry): string {
  const value = entry.value === '' ? '' : ` = ${entry.value}`;
  return `${entry.kind} ${entry.property}${value}: ${entry.reason}`;
}

/** shortValue - a one-line rendering of an exported value, cut at 80 characters. */
export function shortValue(value: unknown): string {
  if (value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  const line = text.replace(/\s+/g, ' ');
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}
