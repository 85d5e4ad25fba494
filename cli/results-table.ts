import { RunSummary } from '../coordinator/summary';

const percent = (value: number | undefined): string => (value === undefined ? '-' : `${(value * 100).toFixed(2)}%`);

function bytes(value: number): string {
  if (value >= 2 ** 20) return `${(value / 2 ** 20).toFixed(2)} MiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(2)} KiB`;
  return `${value.toFixed(0)} B`;
}

function soupSize(summary: RunSummary): string {
  const count = summary.greedySoup?.ranks.length ?? 0;
  return count === 1 ? '1 member' : `${count} members`;
}

/** Formats a finished run's summary as the table `wash run` prints. */
export function formatSummary(summary: RunSummary, runDir: string): string {
  const lines: string[] = [];
  lines.push(`${summary.method} (${summary.init} init): ${summary.membersCount} members, ${summary.model} on ${summary.dataset}`);
  if (summary.status !== 'finished') {
    lines.push(`run ${summary.status}: ${summary.error?.code} ${summary.error?.message}`);
    lines.push(`run folder: ${runDir}`);
    return lines.join('\n');
  }
  const m = summary.members as NonNullable<RunSummary['members']>;
  const rows: Array<[string, string]> = [
    ['members (mean)', percent(m.mean)],
    ['members (min / max)', `${percent(m.min)} / ${percent(m.max)}`],
    ['ensemble (mean of softmax)', percent(summary.ensemble)],
    ['naive weight average', percent(summary.naiveAverage)],
    ['averaged model (batch norm recomputed)', percent(summary.averaged)],
    [`greedy soup (${soupSize(summary)})`, percent(summary.greedySoup?.accuracy)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  lines.push(`${'test accuracy'.padStart(width + 14)}`);
  for (const [label, value] of rows) lines.push(`${label.padEnd(width)}  ${value.padStart(12)}`);
  const t = summary.traffic;
  if (t) {
    const perStep = t.bytesPerMemberPerStep;
    const method = perStep.shuffle + perStep.reduce;
    lines.push('');
    lines.push(`traffic per member per step: method ${bytes(method)} for ${t.valuesPerMemberPerStep.toFixed(1)} values` +
      (t.overheadRatio === null ? '' : ` (${t.overheadRatio.toFixed(3)} x the 4-byte minimum)`) +
      `, control ${bytes(perStep.control)}, final gather ${bytes(perStep.gather)}, evaluation ${bytes(perStep.evaluation)}`);
    lines.push(`total sent: ${bytes(t.totalBytes)}`);
  }
  lines.push(`wall time ${summary.wallSeconds.toFixed(1)} s, training ${summary.samplesPerSecond?.toFixed(0)} samples/s over all members`);
  lines.push(`run folder: ${runDir}`);
  return lines.join('\n');
}
