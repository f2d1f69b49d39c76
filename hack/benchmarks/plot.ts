// The converge plot (sessions running over time, per contender), drawn by matplotlib from the
// venv hack/bench prepares (DOCKERLET_BENCH_PYTHON). Without it the report says so and the run
// goes on: the numbers do not depend on the picture.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './command.ts';
import type { ConvergeSize } from './converge-suite.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'plot-converge.py');

/** Writes the PNG to `target`; returns false (and says why) when no plotting Python is there. */
export async function plotConverge(sizes: ConvergeSize[], title: string, target: string): Promise<boolean> {
  const python = process.env['DOCKERLET_BENCH_PYTHON'];
  if (!python) {
    process.stderr.write('bench: no plot: DOCKERLET_BENCH_PYTHON is not set (run through bash hack/bench, which prepares it)\n');
    return false;
  }
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-bench-plot-'));
  try {
    const data = {
      title,
      // Largest N first: it is the one the issue asks for.
      sizes: [...sizes]
        .sort((a, b) => b.sessions - a.sessions)
        .map((size) => ({
          sessions: size.sessions,
          series: Object.fromEntries(Object.entries(size.contenders).map(([name, s]) => [name, s.medianSeries])),
        })),
    };
    const source = join(dir, 'series.json');
    await writeFile(source, JSON.stringify(data));
    await run(python, [SCRIPT, source, target]);
    return true;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
