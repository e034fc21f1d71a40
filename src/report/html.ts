/**
 * The report as one HTML document: tables and pictures written here, charts
 * drawn in the browser by uPlot (inlined, with the page script and styles, so
 * the file opens offline). The run log and the sweep are embedded verbatim as
 * JSON blocks (`#run-log`, `#sweep`) that the charts read.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { reportScript, scientificLabel } from './page.js';
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR, cssColour } from './palette.js';
import type { ExamplePanels } from './panels.js';
import type { EvaluationReport } from '../train/evaluate.js';
import type { ValidationResult } from './validation.js';

/** One example of the worst or best validation images. */
export interface Example {
  name: string;
  dice: number;
  panels: ExamplePanels;
}

/** Everything the report shows. */
export interface ReportContent {
  runDir: string;
  modelPath: string;
  /** train.jsonl, record by record */
  records: Record<string, unknown>[];
  meta: CheckpointMeta;
  /** the libtorch and device that ran the report's evaluation */
  runtime: { libtorch: string; device: string };
  /** the scored validation images, or why there are none */
  validation: { result: ValidationResult; worst: Example[]; best: Example[] } | { missing: string };
}

const require = createRequire(import.meta.url);
const asset = (path: string) => readFileSync(require.resolve(path), 'utf8');

/** The report page. */
export function renderReport(content: ReportContent): string {
  const { meta } = content;
  const validation = 'result' in content.validation ? content.validation : null;
  const sweep = validation?.result.report.sweep;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>patho report: ${escape(content.runDir)}</title>
<style>${asset('uplot/dist/uPlot.min.css')}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>Training report</h1>
<p class="lead">${escape(content.runDir)} &middot; model ${escape(content.modelPath)} &middot; ${escape(summary(content.records, meta))}</p>
<section>
<h2>Training</h2>
<div class="charts">
<figure><figcaption>Loss</figcaption><div id="chart-loss" class="chart"></div></figure>
<figure><figcaption>Validation Dice and IoU</figcaption><div id="chart-scores" class="chart"></div></figure>
<figure><figcaption>Learning rate</figcaption><div id="chart-lr" class="chart"></div></figure>
<figure><figcaption>Throughput</figcaption><div id="chart-throughput" class="chart"></div></figure>
</div>
</section>
<section>
<h2>Validation</h2>
${validation ? validationSection(validation) : `<p class="missing">${escape((content.validation as { missing: string }).missing)}</p>`}
</section>
<section>
<h2>Configuration</h2>
${configuration(content)}
</section>
<script type="application/json" id="run-log">${jsonBlock(content.records)}</script>
${sweep ? `<script type="application/json" id="sweep">${jsonBlock({ ...sweep, chosen: validation.result.threshold })}</script>` : ''}
<script>${asset('uplot/dist/uPlot.iife.min.js')}</script>
<script>(${reportScript.toString()})(${scientificLabel.toString()});</script>
</body>
</html>
`;
}

function summary(records: Record<string, unknown>[], meta: CheckpointMeta): string {
  const epochs = records.filter((r) => r.event === 'epoch');
  const best = epochs.filter((r) => r.best).pop();
  const seconds = epochs.reduce((s, r) => s + Number(r.seconds ?? 0), 0);
  return (
    `${epochs.length} epoch(s) in ${(seconds / 60).toFixed(1)} min` +
    (best ? `, best epoch ${best.epoch}` : '') +
    (meta.bestDice !== null && meta.bestDice !== undefined ? `, best validation Dice ${meta.bestDice.toFixed(4)}` : '')
  );
}

function validationSection({ result, worst, best }: { result: ValidationResult; worst: Example[]; best: Example[] }): string {
  const { report, threshold } = result;
  const key = String(threshold);
  const rows = Object.entries(report.thresholds).map(([t, s]) => {
    const b = report.background[t];
    return `<tr><td>${t}</td>${[s.dice, s.iou, s.precision, s.recall, b.dice, b.iou].map(numberCell).join('')}</tr>`;
  });
  const perImage = report.perImage.map((p) => {
    const s = p.scores[key];
    return `<tr><td>${escape(p.name)}</td>${[s.dice, s.iou, s.precision, s.recall].map(numberCell).join('')}</tr>`;
  });
  const sweepBest = report.sweep?.best;
  return `<p>${report.images} validation image(s), scored again with the saved model; the masks below are thresholded at ${threshold}.</p>
<table class="scores">
<thead><tr><th>threshold</th><th>Dice</th><th>IoU</th><th>precision</th><th>recall</th><th>background Dice</th><th>background IoU</th></tr></thead>
<tbody>${rows.join('\n')}</tbody>
</table>
${objectScores(report)}
<figure><figcaption>Threshold sweep${sweepBest ? `: best mean Dice ${sweepBest.dice.toFixed(4)} at ${sweepBest.threshold}` : ''}</figcaption><div id="chart-sweep" class="chart"></div></figure>
<h3>Per image (threshold ${threshold}; click a header to sort)</h3>
<table class="sortable" id="per-image">
<thead><tr><th data-type="text">image</th><th data-type="number">Dice</th><th data-type="number">IoU</th><th data-type="number">precision</th><th data-type="number">recall</th></tr></thead>
<tbody>${perImage.join('\n')}</tbody>
</table>
<h3>Worst</h3>
${worst.map(exampleFigure).join('\n')}
<h3>Best</h3>
${best.length ? best.map(exampleFigure).join('\n') : '<p>Every image is among the worst above.</p>'}
<p class="legend">Comparison: <span class="agreement">agreement</span> (outlined), <span class="miss">missed</span> (in the ground truth, not predicted), <span class="false-alarm">false alarm</span> (predicted, not in the ground truth).</p>`;
}

/** The GlaS object metrics or the ISBI 2012 region scores, whichever the masks called for. */
function objectScores(report: EvaluationReport): string {
  const table = (caption: string, cells: [string, number | null, number][]) =>
    `<table class="scores objects"><caption>${caption}</caption><thead><tr>${cells.map(([name]) => `<th>${name}</th>`).join('')}</tr></thead>` +
    `<tbody><tr>${cells.map(([, value, digits]) => (value === null ? '<td>n/a</td>' : `<td data-value="${value}">${value.toFixed(digits)}</td>`)).join('')}</tr></tbody></table>`;
  const { glas, isbi } = report;
  if (glas) {
    return table(`Glands as objects (GlaS challenge metrics; threshold ${glas.threshold}, 8-connected objects)`, [
      ['object F1', glas.f1, 4],
      ['precision', glas.precision, 4],
      ['recall', glas.recall, 4],
      ['TP', glas.tp, 0],
      ['FP', glas.fp, 0],
      ['FN', glas.fn, 0],
      ['object Dice', glas.objectDice, 4],
      ['object Hausdorff (px)', glas.objectHausdorff, 2],
    ]);
  }
  if (isbi) {
    return table(`Cells as regions (ISBI 2012 foreground-restricted scores; threshold ${isbi.threshold}, 4-connected cells)`, [
      ['V_rand', isbi.vRand, 4],
      ['split', isbi.vRandSplit, 4],
      ['merge', isbi.vRandMerge, 4],
      ['V_info', isbi.vInfo, 4],
    ]);
  }
  return '';
}

function exampleFigure(example: Example): string {
  const { panels } = example;
  // small images are shown enlarged, pixel for pixel
  const zoom = Math.max(1, Math.floor(192 / Math.max(panels.width, panels.height)));
  const img = (src: string, alt: string, kind: string) =>
    `<figure class="panel"><img class="${kind}" src="${src}" width="${panels.width * zoom}" height="${panels.height * zoom}" alt="${escape(alt)}"><figcaption>${kind}</figcaption></figure>`;
  return `<div class="example" data-name="${escape(example.name)}">
<h4>${escape(example.name)} &middot; Dice ${example.dice.toFixed(4)}</h4>
<div class="panels">${img(panels.image, `${example.name}: image`, 'image')}${img(panels.comparison, `${example.name}: ground truth and prediction compared`, 'comparison')}</div>
</div>`;
}

function configuration(content: ReportContent): string {
  const { meta, runtime } = content;
  const data = meta.data;
  const norm = meta.normalization;
  const groups: [string, Record<string, unknown>][] = [
    ['Architecture', { ...meta.unet }],
    ['Training', { ...meta.training }],
    [
      'Data',
      data
        ? { folder: data.root, images: data.images, masks: data.masks, foreground: data.foreground ?? 'default (0 vs the other value)', 'validation images': data.validation.length }
        : { recorded: 'no (checkpoint written before data folders were recorded)' },
    ],
    ['Normalisation', norm ? { mean: norm.mean.map((v) => v.toFixed(4)).join(', '), std: norm.std.map((v) => v.toFixed(4)).join(', ') } : { none: '' }],
    [
      'Checkpoint',
      { format: meta.format, 'after epoch': meta.epoch, 'saved at': meta.savedAt, 'best validation Dice': meta.bestDice, threshold: meta.threshold, 'libtorch (training)': meta.torchVersion, 'device (training)': meta.device },
    ],
    ['This report', { 'libtorch (evaluation)': runtime.libtorch, 'device (evaluation)': runtime.device }],
  ];
  return `<div class="config">${groups
    .map(([title, values]) => `<table><caption>${title}</caption><tbody>${Object.entries(values)
      .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? 'n/a'))}</td></tr>`)
      .join('')}</tbody></table>`)
    .join('\n')}</div>`;
}

function numberCell(value: number): string {
  return `<td data-value="${value}">${Number.isFinite(value) ? value.toFixed(4) : 'n/a'}</td>`;
}

/** JSON that can sit inside a script element: `<` is escaped so `</script>` cannot end it early. */
function jsonBlock(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.lead { color: #555; margin-top: 0; }
section { margin-top: 2em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1em; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
.chart { min-height: 260px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td[data-value] { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: ' \\25B2'; }
table.sortable th[aria-sort=descending]::after { content: ' \\25BC'; }
.panels { display: flex; gap: 8px; flex-wrap: wrap; }
.panel figcaption { font-weight: normal; color: #555; }
.panel img { image-rendering: pixelated; border: 1px solid #ccc; }
.example h4 { margin: 1em 0 0.3em; }
.legend span { padding: 0 4px; font-weight: 600; color: #222; }
.legend .agreement { outline: 2px solid ${cssColour(AGREEMENT_COLOUR)}; }
.legend .miss { background: ${cssColour(MISS_COLOUR)}; }
.legend .false-alarm { background: ${cssColour(FALSE_ALARM_COLOUR)}; }
.objects caption { text-align: left; font-weight: 600; }
.config { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.config caption { text-align: left; font-weight: 600; }
.missing { color: #a40; }
`;
