import * as path from 'node:path';
import { writeFileAtomic } from '../coordinator/run-folder';
import { buildReportData, ReportData, ReportInput } from './report-data';
import { renderMarkdown } from './report-markdown';
import { reportPlots } from './report-plots';
import { renderSvg } from './svg-plot';

/**
 * Writes the report files into `dir`: every plot, then results.md, then
 * results.json. Each file is written to a temporary name and renamed, so a
 * reader or a Ctrl-C never finds half a file, and a results.json that lists a
 * run as finished is written after the plots that include it.
 */
export async function writeReport(dir: string, input: ReportInput): Promise<ReportData> {
  const data = buildReportData(input);
  for (const { file, spec } of reportPlots(data)) {
    await writeFileAtomic(path.join(dir, file), renderSvg(spec));
  }
  await writeFileAtomic(path.join(dir, 'results.md'), renderMarkdown(data));
  await writeFileAtomic(path.join(dir, 'results.json'), `${JSON.stringify(data, null, 2)}\n`);
  return data;
}
