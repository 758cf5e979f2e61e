// Builds the browser assets the master serves (the topology view, GET /topology/) into
// dist/web/topology: the page's TypeScript bundled with its libraries (cytoscape, elkjs) by
// esbuild into one script, plus its HTML and CSS. Nothing is fetched when the page runs.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const src = 'src/topology/page';
const out = 'dist/web/topology';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${src}/main.ts`],
  outfile: `${out}/app.js`,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(`${src}/${f}`, `${out}/${f}`);
