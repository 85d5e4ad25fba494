import { formatCompact, formatStatistic } from './report-format';
import { ReportData, ReportGroup } from './report-data';
import { Metric, METRICS } from './report-metrics';
import { plotFiles } from './report-plots';
import { usesShuffleProbability } from './run-record';

/** Renders results.md: the command, the shared settings, the two tables, the runs and the plots. */
export function renderMarkdown(data: ReportData): string {
  return [...header(data), ...tables(data), ...runList(data), ...plotList(data)].join('\n');
}

function header(data: ReportData): string[] {
  const done = data.runs.filter((r) => r.status !== 'pending').length;
  const lines: string[] = [];
  lines.push(`# wash ${data.kind}: ${subject(data)}`);
  lines.push('');
  lines.push(`State: ${data.state}, ${done} of ${data.runs.length} runs done. Started ${data.startedAt}, updated ${data.updatedAt}.`);
  lines.push('');
  lines.push('Command:');
  lines.push('');
  lines.push('```sh');
  lines.push(data.command);
  lines.push('```');
  lines.push('');
  lines.push(`Settings shared by every run: ${describeSettings(data)}.`);
  lines.push('');
  lines.push(
    'Each cell is the mean over the finished seeds, and `± x` is the sample standard deviation (n - 1 in the denominator) when there are several. ' +
      'Accuracies are test accuracies in percent. Method bytes count the shuffle and all-reduce messages each member sent, WebSocket framing included; ' +
      'control messages, the final gather and the epoch-end gather for the running average are left out. The minimum is 4 bytes per value moved.',
  );
  lines.push('');
  return lines;
}

function tables(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('## Test accuracy (%)');
  lines.push('');
  lines.push(...table(data, METRICS.filter((m) => m.table === 'accuracy')));
  lines.push('');
  lines.push('## Traffic and time');
  lines.push('');
  lines.push(...table(data, METRICS.filter((m) => m.table === 'traffic')));
  lines.push('');
  return lines;
}

function runList(data: ReportData): string[] {
  const lines: string[] = [];
  lines.push('## Runs');
  lines.push('');
  lines.push('| run folder | method | init | p | seed | status |');
  lines.push('| --- | --- | --- | --- | --- | --- |');
  for (const run of data.runs) {
    const status = run.error ? `${run.status}: ${run.error.code} ${escapeCell(run.error.message)}` : run.status;
    const folder = run.status === 'pending' ? run.runId : `[${run.runId}](${run.runId}/)`;
    const p = usesShuffleProbability(run.method) ? formatCompact(run.p) : '-';
    lines.push(`| ${folder} | ${run.method} | ${run.init} | ${p} | ${run.seed} | ${status} |`);
  }
  lines.push('');
  return lines;
}

function plotList(data: ReportData): string[] {
  const lines = ['## Plots', ''];
  for (const { file, title } of plotFiles(data.kind)) lines.push(`![${title}](${file})`, '');
  return lines;
}

function subject(data: ReportData): string {
  const seeds = new Set(data.runs.map((r) => r.seed)).size;
  const seedText = `${seeds} seed${seeds === 1 ? '' : 's'}`;
  if (data.kind === 'sweep') {
    const methods = [...new Set(data.runs.map((r) => r.method))].join(', ');
    return `${methods} over ${data.groups.length} values of p, ${seedText}`;
  }
  return `${data.groups.map((g) => g.label).join(', ')}, ${seedText}`;
}

function describeSettings(data: ReportData): string {
  const s = data.settings;
  const parts = [
    `${s.model} on ${s.dataset}`,
    `${s.members} members`,
    `${s.epochs} epoch${s.epochs === 1 ? '' : 's'}`,
    `batch size ${s.batchSize}`,
    `learning rate ${s.lr}`,
    `train limit ${s.trainLimit || 'none'}`,
    `test limit ${s.testLimit || 'none'}`,
    `backend ${s.backend}`,
  ];
  if (data.kind === 'compare') parts.push(`WASH p ${s.p}`, `PAPA alpha ${s.papaAlpha} every ${s.papaEvery} steps`);
  return parts.join(', ');
}

function table(data: ReportData, metrics: Metric[]): string[] {
  const keyHeadings = data.kind === 'sweep' ? ['p', 'method'] : ['method', 'init'];
  const headings = [...keyHeadings, 'seeds', ...metrics.map((m) => m.heading)];
  const rows = data.groups.map((group) => [...keyCells(data, group), seedCell(group), ...metrics.map((m) => formatStatistic(group.cells[m.id], m.format))]);
  return [`| ${headings.join(' | ')} |`, `| ${headings.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
}

function keyCells(data: ReportData, group: ReportGroup): string[] {
  return data.kind === 'sweep' ? [formatCompact(group.p), group.method] : [group.method, group.init];
}

/** Seeds averaged, with the planned count when some runs have not finished: `0, 1 (2 of 3)`. */
function seedCell(group: ReportGroup): string {
  const seeds = group.seeds.length ? group.seeds.join(', ') : 'none';
  return group.seeds.length === group.planned ? seeds : `${seeds} (${group.seeds.length} of ${group.planned})`;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
