// Redraws a scenario's chart from a figures file (bench/results/<scenario>.json) with the bench's
// own chart writer: for figures recorded by hand from an earlier run, and after a change to
// bench/lib/chart.ts. Usage: node dist/bench/tools/chart-from-json.js bench/results/<scenario>.json...
// Writes <scenario>.svg next to each file; the file itself is left as it is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseFigures, writeChart } from '../lib/figures';

function main(argv: string[]): number {
  if (!argv.length || argv.includes('-h') || argv.includes('--help')) {
    const out = argv.length ? console.log : console.error;
    out('usage: node dist/bench/tools/chart-from-json.js FIGURES.json...\n' +
      '  redraws <scenario>.svg beside each figures file (format: bench/lib/figures.ts)');
    return argv.length ? 0 : 2;
  }
  for (const file of argv) {
    let record;
    try {
      record = parseFigures(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    } catch (e) {
      console.error(`chart-from-json: ${(e as Error).message}`);
      return 1;
    }
    console.log(writeChart(path.dirname(file), record));
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
