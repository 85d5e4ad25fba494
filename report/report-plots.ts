import { formatSiBytes } from './report-format';
import { ReportData, ReportGroup, ReportKind } from './report-data';
import { Statistic } from './statistics';
import { PALETTE, PlotPoint, PlotSeries, PlotSpec } from './svg-plot';

type PlotName = 'accuracy' | 'bytes-vs-accuracy' | 'member-distance' | 'p-sweep' | 'p-sweep-bytes';

const TITLES: Record<PlotName, string> = {
  accuracy: 'Test accuracy per epoch',
  'bytes-vs-accuracy': 'Method traffic against averaged accuracy',
  'member-distance': 'Mean L2 distance of members to their centroid',
  'p-sweep': 'Test accuracy against shuffle probability p',
  'p-sweep-bytes': 'Method traffic against shuffle probability p',
};

const EMPTY = 'no finished runs yet';

/** Plot files of a report kind, in the order results.md shows them. */
export function plotFiles(kind: ReportKind): Array<{ file: string; title: string }> {
  const names: PlotName[] = ['accuracy', 'bytes-vs-accuracy', 'member-distance'];
  if (kind === 'sweep') names.unshift('p-sweep', 'p-sweep-bytes');
  return names.map((name) => ({ file: `${name}.svg`, title: TITLES[name] }));
}

/** Builds the specification of every plot of the report; a group without finished runs adds no series. */
export function reportPlots(data: ReportData): Array<{ file: string; spec: PlotSpec }> {
  const groups = data.groups.filter((g) => g.seeds.length > 0);
  const specs: Record<PlotName, () => PlotSpec> = {
    accuracy: () => accuracyPlot(groups),
    'bytes-vs-accuracy': () => bytesPlot(groups),
    'member-distance': () => distancePlot(groups),
    'p-sweep': () => pSweepPlot(groups),
    'p-sweep-bytes': () => pSweepBytesPlot(groups),
  };
  return plotFiles(data.kind).map(({ file }) => ({ file, spec: specs[file.replace(/\.svg$/, '') as PlotName]() }));
}

const color = (index: number): string => PALETTE[index % PALETTE.length];
const percent = (value: number): number => value * 100;

/** Makes a point from a statistic, scaled by `scale`, with its standard deviation as the error bar; none for a missing statistic. */
function point(x: number, statistic: Statistic | null, scale: (value: number) => number = (v) => v): PlotPoint[] {
  if (!statistic) return [];
  const y = scale(statistic.mean);
  const yError = statistic.standardDeviation === null ? undefined : scale(statistic.standardDeviation);
  return [{ x, y, ...(yError ? { yError } : {}) }];
}

function accuracyPlot(groups: ReportGroup[]): PlotSpec {
  const series: PlotSeries[] = groups.flatMap((g, i) => [
    { label: g.label, color: color(i), line: true, role: 'members mean', points: g.epochs.flatMap((e) => point(e.epoch, e.membersMean, percent)) },
    { label: g.label, color: color(i), line: true, dashed: true, role: 'running average', points: g.epochs.flatMap((e) => point(e.epoch, e.averaged, percent)) },
  ]);
  return {
    title: TITLES.accuracy,
    x: { label: 'epoch', kind: 'linear', integer: true },
    y: { label: 'test accuracy (%)', kind: 'linear' },
    series,
    notes: [
      { text: "members' mean", dashed: false },
      { text: 'running weight average', dashed: true },
    ],
    emptyMessage: EMPTY,
  };
}

function bytesPlot(groups: ReportGroup[]): PlotSpec {
  const series: PlotSeries[] = groups.map((g, i) => {
    const bytes = g.cells.methodBytesPerMember;
    return { label: g.label, color: color(i), line: false, points: bytes ? point(bytes.mean, g.cells.averaged, percent) : [] };
  });
  return {
    title: TITLES['bytes-vs-accuracy'],
    x: { label: 'method bytes sent per member over the run (log scale)', kind: 'log', format: formatSiBytes },
    y: { label: 'averaged model test accuracy (%)', kind: 'linear' },
    series,
    emptyMessage: EMPTY,
  };
}

function distancePlot(groups: ReportGroup[]): PlotSpec {
  const series: PlotSeries[] = groups.map((g, i) => ({ label: g.label, color: color(i), line: true, points: g.epochs.flatMap((e) => point(e.epoch, e.memberDistance)) }));
  return {
    title: TITLES['member-distance'],
    x: { label: 'epoch', kind: 'linear', integer: true },
    y: { label: 'mean L2 distance to the centroid', kind: 'linear' },
    series,
    emptyMessage: EMPTY,
  };
}

/** Groups of a sweep in order of p, so each line runs left to right. */
const byP = (groups: ReportGroup[]): ReportGroup[] => [...groups].sort((a, b) => a.p - b.p);

function pSweepPlot(groups: ReportGroup[]): PlotSpec {
  const sorted = byP(groups);
  const quantities: Array<{ label: string; id: 'averaged' | 'ensemble' | 'membersMean' }> = [
    { label: 'averaged, batch norm recomputed', id: 'averaged' },
    { label: 'ensemble', id: 'ensemble' },
    { label: "members' mean", id: 'membersMean' },
  ];
  const series: PlotSeries[] = quantities.map((q, i) => ({ label: q.label, color: color(i), line: true, points: sorted.flatMap((g) => point(g.p, g.cells[q.id], percent)) }));
  return {
    title: TITLES['p-sweep'],
    x: { label: 'shuffle probability p (log scale)', kind: 'log' },
    y: { label: 'test accuracy (%)', kind: 'linear' },
    series,
    emptyMessage: EMPTY,
  };
}

function pSweepBytesPlot(groups: ReportGroup[]): PlotSpec {
  const sorted = byP(groups);
  const series: PlotSeries[] = [{ label: 'method bytes per member per step', color: color(0), line: true, points: sorted.flatMap((g) => point(g.p, g.cells.methodBytesPerMemberPerStep)) }];
  return {
    title: TITLES['p-sweep-bytes'],
    x: { label: 'shuffle probability p (log scale)', kind: 'log' },
    y: { label: 'bytes per member per step (log scale)', kind: 'log', format: formatSiBytes },
    series,
    emptyMessage: EMPTY,
  };
}
