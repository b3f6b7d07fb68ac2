// npm run build: bundles the dashboard into dashboard/dist/ — one minified ESM app.js, index.html
// and the favicon. The server serves that folder at `/` (index.html for every other page path).
// Prints the bundle's size, raw and gzipped; `--check-size` fails past the 100 KB gzip budget.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const GZIP_BUDGET_BYTES = 100 * 1024;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dashboard = path.join(root, 'dashboard');

export interface DashboardBuild {
  outDir: string;
  bytes: number;
  gzipBytes: number;
  ms: number;
}

export async function buildDashboard(outDir = path.join(dashboard, 'dist')): Promise<DashboardBuild> {
  const started = performance.now();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(dashboard, 'src', 'main.ts')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    minify: true,
    target: 'es2022',
    platform: 'browser',
    tsconfig: path.join(dashboard, 'tsconfig.json'),
    legalComments: 'none',
    logLevel: 'warning',
    metafile: false,
    write: false,
  });
  const js = result.outputFiles[0]!.contents;
  await writeFile(path.join(outDir, 'app.js'), js);
  await copyFile(path.join(dashboard, 'public', 'index.html'), path.join(outDir, 'index.html'));
  for (const file of ['favicon.svg', 'theme.js']) await copyFile(path.join(dashboard, 'public', file), path.join(outDir, file));
  const html = await readFile(path.join(outDir, 'index.html'));
  return { outDir, bytes: js.byteLength + html.byteLength, gzipBytes: gzipSync(js, { level: 9 }).byteLength + gzipSync(html, { level: 9 }).byteLength, ms: performance.now() - started };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDashboard();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`dashboard: ${path.relative(root, out.outDir)}/ app.js+index.html ${kb(out.bytes)}, ${kb(out.gzipBytes)} gzipped, built in ${Math.round(out.ms)} ms`);
  if (process.argv.includes('--check-size') && out.gzipBytes > GZIP_BUDGET_BYTES) {
    console.error(`dashboard bundle is ${kb(out.gzipBytes)} gzipped, over the ${kb(GZIP_BUDGET_BYTES)} budget`);
    process.exit(1);
  }
}
