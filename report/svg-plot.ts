import { makeScale, Scale, ScaleKind } from './plot-scale';

export interface PlotPoint {
  x: number;
  y: number;
  /** Half-length of a vertical error bar, in y units; none when absent or zero. */
  yError?: number;
}

export interface PlotSeries {
  /** Legend text; series that share a label and color share one legend row. */
  label: string;
  color: string;
  points: PlotPoint[];
  /** Draws a line through the points; a scatter series draws markers only. */
  line: boolean;
  dashed?: boolean;
  /** Quantity shown when one label has several series, e.g. `members mean`; written as `data-role`. */
  role?: string;
}

export interface PlotAxis {
  label: string;
  kind: ScaleKind;
  integer?: boolean;
  format?: (value: number) => string;
}

/** A legend row that explains a line style rather than naming a series. */
export interface LegendNote {
  text: string;
  dashed: boolean;
}

export interface PlotSpec {
  title: string;
  x: PlotAxis;
  y: PlotAxis;
  series: PlotSeries[];
  notes?: LegendNote[];
  /** Text drawn in the empty plot area when no series has a point. */
  emptyMessage?: string;
}

/** Color-blind safe palette of Okabe and Ito (2008), without its yellow, which is faint on white. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

const WIDTH = 860;
const HEIGHT = 460;
const AREA = { left: 80, right: 580, top: 50, bottom: 390 };
const LEGEND_X = 600;
/** Gap between the axes and the outermost data, so markers never sit on an axis line. */
const INSET = 12;
const DASH = '7 4';
const FONT = 'font-family="Helvetica, Arial, DejaVu Sans, sans-serif"';

const round = (value: number): string => `${Math.round(value * 100) / 100}`;

/** Escapes text for an XML text node or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Renders a line or scatter plot as a standalone SVG document: axes with
 * ticks and labels, light grid lines, one `<g class="series">` per series
 * (a `<polyline>` when it has a line, a `<circle>` per point) and a legend.
 */
export function renderSvg(spec: PlotSpec): string {
  const series = spec.series.filter((s) => s.points.length > 0);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.flatMap((p) => (p.yError ? [p.y - p.yError, p.y + p.yError] : [p.y])));
  const xScale = makeScale(xs, { kind: spec.x.kind, range: [AREA.left + INSET, AREA.right - INSET], integer: spec.x.integer, format: spec.x.format });
  const yScale = makeScale(ys, { kind: spec.y.kind, range: [AREA.bottom - INSET, AREA.top + INSET], integer: spec.y.integer, format: spec.y.format });

  const parts: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ${FONT} font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${(AREA.left + AREA.right) / 2}" y="28" text-anchor="middle" font-size="15">${escapeXml(spec.title)}</text>`,
    ...renderAxes(spec, xScale, yScale),
  ];
  if (series.length === 0) {
    const message = spec.emptyMessage ?? 'no data';
    parts.push(`<text x="${(AREA.left + AREA.right) / 2}" y="${(AREA.top + AREA.bottom) / 2}" text-anchor="middle" fill="#666666">${escapeXml(message)}</text>`);
  }
  for (const s of series) parts.push(renderSeries(s, xScale, yScale));
  parts.push(...renderLegend(series, spec.notes ?? []));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function renderAxes(spec: PlotSpec, xScale: Scale, yScale: Scale): string[] {
  const parts: string[] = ['<g class="axes" stroke="#000000" fill="none">'];
  parts.push(`<line x1="${AREA.left}" y1="${AREA.bottom}" x2="${AREA.right}" y2="${AREA.bottom}"/>`);
  parts.push(`<line x1="${AREA.left}" y1="${AREA.bottom}" x2="${AREA.left}" y2="${AREA.top}"/>`);
  if (xScale.breakAt !== undefined) parts.push(breakMark(xScale.breakAt, AREA.bottom, 'x'));
  if (yScale.breakAt !== undefined) parts.push(breakMark(AREA.left, yScale.breakAt, 'y'));
  parts.push('</g>');

  parts.push('<g class="x-ticks" font-size="11" text-anchor="middle">');
  for (const tick of xScale.ticks) {
    const x = round(tick.position);
    parts.push(`<line x1="${x}" y1="${AREA.top}" x2="${x}" y2="${AREA.bottom}" stroke="#e4e4e4"/>`);
    parts.push(`<line x1="${x}" y1="${AREA.bottom}" x2="${x}" y2="${AREA.bottom + 5}" stroke="#000000"/>`);
    parts.push(`<text x="${x}" y="${AREA.bottom + 19}">${escapeXml(tick.label)}</text>`);
  }
  parts.push('</g>');

  parts.push('<g class="y-ticks" font-size="11" text-anchor="end">');
  for (const tick of yScale.ticks) {
    const y = round(tick.position);
    parts.push(`<line x1="${AREA.left}" y1="${y}" x2="${AREA.right}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<line x1="${AREA.left - 5}" y1="${y}" x2="${AREA.left}" y2="${y}" stroke="#000000"/>`);
    parts.push(`<text x="${AREA.left - 8}" y="${round(tick.position + 4)}">${escapeXml(tick.label)}</text>`);
  }
  parts.push('</g>');

  const xLabelY = AREA.bottom + 45;
  const yLabelX = 22;
  const yMiddle = (AREA.top + AREA.bottom) / 2;
  parts.push(`<text class="x-label" x="${(AREA.left + AREA.right) / 2}" y="${xLabelY}" text-anchor="middle">${escapeXml(spec.x.label)}</text>`);
  parts.push(`<text class="y-label" x="${yLabelX}" y="${yMiddle}" text-anchor="middle" transform="rotate(-90 ${yLabelX} ${yMiddle})">${escapeXml(spec.y.label)}</text>`);
  return parts;
}

/** Two short slanted strokes across an axis where the slot for 0 ends and the decades begin. */
function breakMark(x: number, y: number, axis: 'x' | 'y'): string {
  const strokes = [-3, 3].map((offset) => (axis === 'x' ? `M${round(x + offset - 3)} ${y + 5}l6 -10` : `M${x - 5} ${round(y + offset + 3)}l10 -6`));
  return `<path class="axis-break" d="${strokes.join('')}" stroke="#000000" fill="none"/>`;
}

function renderSeries(series: PlotSeries, xScale: Scale, yScale: Scale): string {
  const role = series.role ? ` data-role="${escapeXml(series.role)}"` : '';
  const parts = [`<g class="series" data-label="${escapeXml(series.label)}"${role} data-points="${series.points.length}">`];
  const pixels = series.points.map((p) => ({ x: xScale.toPixel(p.x), y: yScale.toPixel(p.y), point: p }));
  if (series.line) {
    const dash = series.dashed ? ` stroke-dasharray="${DASH}"` : '';
    for (const run of lineRuns(pixels, (p) => xScale.inZeroSlot(p.point.x) || yScale.inZeroSlot(p.point.y))) {
      parts.push(`<polyline points="${run.map((p) => `${round(p.x)},${round(p.y)}`).join(' ')}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
    }
  }
  for (const { x, point } of pixels) {
    if (!point.yError) continue;
    const top = round(yScale.toPixel(point.y + point.yError));
    const bottom = round(yScale.toPixel(point.y - point.yError));
    const left = round(x - 4);
    parts.push(`<path class="error-bar" d="M${round(x)} ${top}V${bottom}M${left} ${top}h8M${left} ${bottom}h8" stroke="${series.color}" fill="none"/>`);
  }
  // Hollow markers set dashed series apart where lines overlap.
  const fill = series.dashed ? '#ffffff' : series.color;
  for (const { x, y } of pixels) parts.push(`<circle cx="${round(x)}" cy="${round(y)}" r="3.5" fill="${fill}" stroke="${series.color}" stroke-width="1.5"/>`);
  parts.push('</g>');
  return parts.join('\n');
}

/**
 * Splits a line at points in a log axis's slot for 0: a segment from 0 to a
 * decade would suggest values in between that the axis cannot show.
 */
function lineRuns<T>(points: T[], inZeroSlot: (point: T) => boolean): T[][] {
  const runs: T[][] = [[]];
  for (const point of points) {
    if (inZeroSlot(point)) runs.push([]);
    else runs[runs.length - 1].push(point);
  }
  return runs.filter((run) => run.length > 0);
}

function renderLegend(series: PlotSeries[], notes: LegendNote[]): string[] {
  const rows: Array<{ text: string; color: string; dashed: boolean; line: boolean }> = [];
  const seen = new Set<string>();
  for (const s of series) {
    const key = `${s.label}\u0000${s.color}`;
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push({ text: s.label, color: s.color, dashed: notes.length === 0 && Boolean(s.dashed), line: s.line });
  }
  for (const note of notes) rows.push({ text: note.text, color: '#555555', dashed: note.dashed, line: true });

  const parts = ['<g class="legend">'];
  rows.forEach((row, i) => {
    const y = AREA.top + 10 + i * 20;
    const dash = row.dashed ? ` stroke-dasharray="${DASH}"` : '';
    if (row.line) parts.push(`<line x1="${LEGEND_X}" y1="${y}" x2="${LEGEND_X + 26}" y2="${y}" stroke="${row.color}" stroke-width="2"${dash}/>`);
    else parts.push(`<circle cx="${LEGEND_X + 13}" cy="${y}" r="3.5" fill="${row.color}"/>`);
    parts.push(`<text x="${LEGEND_X + 34}" y="${y + 4}">${escapeXml(row.text)}</text>`);
  });
  parts.push('</g>');
  return parts;
}
