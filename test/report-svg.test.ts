import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeScale, niceStep } from '../report/plot-scale';
import { renderSvg } from '../report/svg-plot';
import { allElements, parseXml, XmlElement } from '../report/xml-check';

const ticksOf = (values: number[], kind: 'linear' | 'log', range: [number, number], integer = false): Array<[number, number]> =>
  makeScale(values, { kind, range, integer }).ticks.map((t) => [t.value, Math.round(t.position * 1000) / 1000]);

const seriesOf = (root: XmlElement): XmlElement[] => allElements(root).filter((e) => e.name === 'g' && e.attributes.class === 'series');
const pointsOf = (polyline: XmlElement): number => polyline.attributes.points.trim().split(/\s+/).length;

describe('plot scales', () => {
  it('picks 1, 2 or 5 times a power of ten', () => {
    assert.equal(niceStep(1.2), 2);
    assert.equal(niceStep(3), 5);
    assert.equal(niceStep(7), 10);
    assert.equal(niceStep(0.6), 1);
    assert.equal(niceStep(0.03), 0.05);
  });

  it('places linear ticks', () => {
    // [0, 10] in 5 steps: raw step 2, ticks every 2 over [0, 100] pixels.
    assert.deepEqual(ticksOf([0, 10], 'linear', [0, 100]), [[0, 0], [2, 20], [4, 40], [6, 60], [8, 80], [10, 100]]);
    // [72.5, 75.5]: raw step 0.6 rounds up to 1, domain widens to [72, 76], 150 pixels per unit.
    assert.deepEqual(ticksOf([72.5, 75.5], 'linear', [0, 600]), [[72, 0], [73, 150], [74, 300], [75, 450], [76, 600]]);
  });

  it('widens a single epoch to whole numbers', () => {
    // One value 1: padded to [0, 2]; the step 0.5 is not whole, so it becomes 1.
    assert.deepEqual(ticksOf([1], 'linear', [0, 200], true), [[0, 0], [1, 100], [2, 200]]);
  });

  it('maps y downwards', () => {
    const scale = makeScale([0, 10], { kind: 'linear', range: [300, 100] });
    assert.equal(scale.toPixel(0), 300);
    assert.equal(scale.toPixel(5), 200);
    assert.equal(scale.toPixel(10), 100);
  });

  it('places log ticks at decades', () => {
    // 100 to 100000 spans 3 decades over 300 pixels: 100 pixels each, no 2x or 5x ticks.
    assert.deepEqual(ticksOf([100, 5000, 100000], 'log', [0, 300]), [[100, 0], [1000, 100], [10000, 200], [100000, 300]]);
  });

  it('sets zero apart on a log axis', () => {
    // Zero takes the first 10% ([0, 10] of 100 pixels); 1e-3 to 1e-1 spans the other 90, 45 per decade.
    // Two decades or fewer also get 2x and 5x ticks: log10(2) * 45 = 13.546, log10(5) * 45 = 31.454.
    const scale = makeScale([0, 0.001, 0.1], { kind: 'log', range: [0, 100] });
    assert.equal(scale.toPixel(0), 0);
    assert.equal(scale.toPixel(0.001), 10);
    assert.equal(scale.toPixel(0.01), 55);
    assert.equal(scale.toPixel(0.1), 100);
    assert.equal(scale.breakAt, 5);
    assert.deepEqual(scale.ticks.map((t) => t.label), ['0', '0.001', '0.002', '0.005', '0.01', '0.02', '0.05', '0.1']);
    assert.equal(Math.round(scale.ticks[2].position * 1000) / 1000, 23.546);
    assert.equal(Math.round(scale.ticks[3].position * 1000) / 1000, 41.454);
  });
});

describe('renderSvg', () => {
  const svg = renderSvg({
    title: 'Accuracy <test> & "quotes"',
    x: { label: 'epoch', kind: 'linear', integer: true },
    y: { label: 'test accuracy (%)', kind: 'linear' },
    series: [
      { label: 'wash', color: '#0072B2', line: true, role: 'members mean', points: [{ x: 1, y: 70 }, { x: 2, y: 72 }, { x: 3, y: 74, yError: 1 }] },
      { label: 'wash', color: '#0072B2', line: true, dashed: true, role: 'running average', points: [{ x: 1, y: 71 }, { x: 2, y: 73 }, { x: 3, y: 75 }] },
      { label: 'papa & co', color: '#D55E00', line: false, points: [{ x: 2, y: 69 }] },
      { label: 'empty', color: '#009E73', line: true, points: [] },
    ],
    notes: [{ text: "members' mean", dashed: false }, { text: 'running average', dashed: true }],
  });
  const root = parseXml(svg);

  it('writes a standalone SVG document', () => {
    assert.ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg '));
    assert.equal(root.name, 'svg');
    assert.equal(root.attributes.xmlns, 'http://www.w3.org/2000/svg');
    assert.equal(root.children.find((e) => e.name === 'title')?.text, 'Accuracy <test> & "quotes"');
  });

  it('draws one group per series with points', () => {
    const series = seriesOf(root);
    assert.deepEqual(series.map((s) => [s.attributes['data-label'], s.attributes['data-role'], s.attributes['data-points']]), [
      ['wash', 'members mean', '3'],
      ['wash', 'running average', '3'],
      ['papa & co', undefined, '1'],
    ]);
    const polylines = series.map((s) => s.children.filter((e) => e.name === 'polyline'));
    assert.deepEqual(polylines.map((p) => p.map(pointsOf)), [[3], [3], []]);
    assert.equal(polylines[1][0].attributes['stroke-dasharray'], '7 4');
    assert.deepEqual(series.map((s) => s.children.filter((e) => e.name === 'circle').length), [3, 3, 1]);
    assert.equal(series[0].children.filter((e) => e.attributes.class === 'error-bar').length, 1);
  });

  it('labels axes and ticks', () => {
    const texts = allElements(root).filter((e) => e.name === 'text');
    assert.ok(texts.some((t) => t.attributes.class === 'x-label' && t.text === 'epoch'));
    assert.ok(texts.some((t) => t.attributes.class === 'y-label' && t.text === 'test accuracy (%)'));
    const xTicks = allElements(root).find((e) => e.attributes.class === 'x-ticks');
    // Epochs 1 to 3: raw step 0.4 becomes 1, ticks 1, 2, 3.
    assert.deepEqual(xTicks?.children.filter((e) => e.name === 'text').map((t) => t.text), ['1', '2', '3']);
  });

  it('lists each label once in the legend', () => {
    const legend = allElements(root).find((e) => e.attributes.class === 'legend');
    const rows = legend?.children.filter((e) => e.name === 'text').map((t) => t.text);
    assert.deepEqual(rows, ['wash', 'papa & co', "members' mean", 'running average']);
  });

  it('breaks a log line at zero', () => {
    const broken = parseXml(renderSvg({
      title: 'bytes',
      x: { label: 'p', kind: 'log' },
      y: { label: 'bytes', kind: 'log' },
      series: [{ label: 'wash', color: '#0072B2', line: true, points: [{ x: 0, y: 0 }, { x: 0.001, y: 500 }, { x: 0.1, y: 50000 }] }],
    }));
    const [series] = seriesOf(broken);
    // The point at 0 keeps its marker but no line reaches it.
    assert.deepEqual(series.children.filter((e) => e.name === 'polyline').map(pointsOf), [2]);
    assert.equal(series.children.filter((e) => e.name === 'circle').length, 3);
    assert.equal(allElements(broken).filter((e) => e.attributes.class === 'axis-break').length, 2);
  });

  it('says so when there is no data', () => {
    const empty = parseXml(renderSvg({ title: 't', x: { label: 'x', kind: 'log' }, y: { label: 'y', kind: 'linear' }, series: [], emptyMessage: 'no finished runs yet' }));
    assert.equal(seriesOf(empty).length, 0);
    assert.ok(allElements(empty).some((e) => e.name === 'text' && e.text === 'no finished runs yet'));
  });
});
