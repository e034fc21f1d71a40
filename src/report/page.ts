/**
 * The report's script, run in the browser: charts of the run log and the
 * threshold sweep (uPlot), and sortable tables. The HTML inlines it as
 * `(${reportScript})()`, so it must not use anything from outside its body
 * but the DOM, `uPlot` and the JSON blocks of the page.
 */
import type UPlot from 'uplot';

declare const uPlot: typeof UPlot;

/**
 * A tick label of a small positive quantity such as a learning rate, in the
 * style 1e-3, 2.5e-4 (uPlot's own labels round 0.0005 to 0.001 and 0.0002 to
 * 0); up to three significant digits. Passed into `reportScript` as a value,
 * so that the page gets it without imports.
 */
export function scientificLabel(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const [mantissa, exponent] = value.toExponential(2).split('e');
  return `${Number(mantissa)}e${Number(exponent)}`;
}

/** Draws every chart and makes tables with class `sortable` sortable by clicking their headers. */
export function reportScript(rateLabel: (value: number) => string): void {
  type Line = { label: string; values: (number | null)[]; scale?: string; dash?: boolean };
  type Axis = { label: string; format?: (value: number) => string };
  type Marker = { at: number; label: string; colour: string };
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

  const json = <T>(id: string): T | null => {
    const element = document.getElementById(id);
    return element?.textContent ? (JSON.parse(element.textContent) as T) : null;
  };

  /** `axes`: the y scales by name, with their labels (a string) or labels and tick format */
  const chart = (id: string, xLabel: string, xs: number[], lines: Line[], axes: Record<string, string | Axis>, markers: Marker[] = []) => {
    const host = document.getElementById(id);
    if (!host || xs.length === 0) return;
    const scales = Object.keys(axes);
    new uPlot(
      {
        width: Math.max(320, host.clientWidth),
        height: 260,
        scales: { x: { time: false } },
        series: [
          { label: xLabel },
          ...lines.map((line, i) => ({
            label: line.label,
            scale: line.scale ?? scales[0],
            stroke: colours[i % colours.length],
            width: 2,
            dash: line.dash ? [6, 4] : undefined,
            points: { show: xs.length < 60 },
            // epochs without validation (--val-every N) leave gaps that the line bridges
            spanGaps: true,
          })),
        ],
        axes: [
          // epochs are whole numbers
          { label: xLabel, incrs: xLabel === 'epoch' ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] : undefined },
          ...scales.map((scale, i) => {
            const axis = axes[scale];
            const { label, format } = typeof axis === 'string' ? { label: axis, format: undefined } : axis;
            return {
              scale, label, side: i === 0 ? 3 : 1, grid: { show: i === 0 },
              ...(format ? { values: (_: UPlot, ticks: number[]) => ticks.map(format), size: 60 } : {}),
            };
          }),
        ],
        hooks: {
          // vertical lines at the marked x values, labelled at the top
          draw: [
            (u: UPlot) => {
              const ctx = u.ctx;
              for (const marker of markers) {
                const x = u.valToPos(marker.at, 'x', true);
                ctx.save();
                ctx.strokeStyle = marker.colour;
                ctx.fillStyle = marker.colour;
                ctx.lineWidth = 2 * devicePixelRatio;
                ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top);
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                ctx.font = `${12 * devicePixelRatio}px sans-serif`;
                ctx.fillText(marker.label, x + 4 * devicePixelRatio, u.bbox.top + 14 * devicePixelRatio);
                ctx.restore();
              }
            },
          ],
        },
      },
      [xs, ...lines.map((line) => line.values)] as UPlot.AlignedData,
      host,
    );
  };

  type Epoch = {
    epoch: number;
    trainLoss: number;
    valLoss: number | null;
    dice: Record<string, number | null>;
    iou: Record<string, number | null>;
    backgroundDice: Record<string, number | null>;
    lr: number;
    imagesPerSecond: number;
    dataWait: number;
    objects?: Record<string, number | null>;
  };
  const OBJECT_SCORE_LABELS = { f1: 'GlaS object F1', objectDice: 'GlaS object Dice', vRand: 'ISBI V_rand', vInfo: 'ISBI V_info' };
  const log = (json<(Epoch & { event?: string })[]>('run-log') ?? []).filter((r) => r.event === 'epoch');
  const epochs = log.map((r) => r.epoch);
  chart('chart-loss', 'epoch', epochs, [
    { label: 'training loss', values: log.map((r) => r.trainLoss) },
    { label: 'validation loss', values: log.map((r) => r.valLoss) },
  ], { y: 'loss' });
  // thresholds of the validated epochs: with --val-every N the others have none
  const validated = log.filter((r) => Object.keys(r.dice).length > 0);
  const thresholds = Object.keys(validated[0]?.dice ?? {});
  chart('chart-scores', 'epoch', epochs, [
    ...thresholds.map((t) => ({ label: `Dice@${t}`, values: log.map((r) => r.dice[t] ?? null) })),
    ...thresholds.map((t) => ({ label: `IoU@${t}`, values: log.map((r) => r.iou[t] ?? null), dash: true })),
    ...Object.keys(validated[0]?.backgroundDice ?? {}).map((t) => ({ label: `background Dice@${t}`, values: log.map((r) => r.backgroundDice[t] ?? null) })),
    // the field's object scores, where the validation scored them (GlaS or ISBI 2012)
    ...(['f1', 'objectDice', 'vRand', 'vInfo'] as const)
      .filter((key) => validated.some((r) => r.objects && key in r.objects))
      .map((key) => ({ label: OBJECT_SCORE_LABELS[key], values: log.map((r) => (r.objects as Record<string, number> | undefined)?.[key] ?? null), dash: true })),
  ], { y: 'score' });
  chart('chart-lr', 'epoch', epochs, [{ label: 'learning rate', values: log.map((r) => r.lr) }], { y: { label: 'learning rate', format: rateLabel } });
  chart('chart-throughput', 'epoch', epochs, [
    { label: 'images/s', values: log.map((r) => r.imagesPerSecond) },
    { label: 'waiting for data (%)', values: log.map((r) => r.dataWait * 100), scale: '%', dash: true },
  ], { y: 'images/s', '%': 'waiting for data (%)' });

  const sweep = json<{ thresholds: number[]; dice: number[]; iou: number[]; pooledDice: number[]; best: { threshold: number }; chosen: number }>('sweep');
  if (sweep) {
    chart('chart-sweep', 'threshold', sweep.thresholds, [
      { label: 'Dice (mean over images)', values: sweep.dice },
      { label: 'IoU (mean over images)', values: sweep.iou },
      { label: 'Dice (pooled pixels)', values: sweep.pooledDice, dash: true },
    ], { y: 'score' }, [
      { at: sweep.chosen, label: `model threshold ${sweep.chosen}`, colour: '#444' },
      ...(sweep.best.threshold !== sweep.chosen ? [{ at: sweep.best.threshold, label: `best ${sweep.best.threshold}`, colour: '#d62728' }] : []),
    ]);
  }

  for (const table of Array.from(document.querySelectorAll<HTMLTableElement>('table.sortable'))) {
    const headers = Array.from(table.tHead?.rows[0]?.cells ?? []);
    headers.forEach((header, column) => {
      header.addEventListener('click', () => {
        const ascending = header.getAttribute('aria-sort') !== 'ascending';
        headers.forEach((h) => h.removeAttribute('aria-sort'));
        header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const key = (row: HTMLTableRowElement) => row.cells[column].dataset.value ?? row.cells[column].textContent ?? '';
        const numeric = header.dataset.type === 'number';
        const rows = Array.from(body.rows).sort((a, b) => {
          const order = numeric ? Number(key(a)) - Number(key(b)) : key(a).localeCompare(key(b), undefined, { numeric: true });
          return ascending ? order : -order;
        });
        body.append(...rows);
      });
    });
  }
}
