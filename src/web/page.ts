/**
 * The browser page that segments an image with an exported model, served by
 * `patho serve` (/browser/...) and written by `patho export --format web`.
 * Both give it the same layout of files; only the URLs in `PageUrls` differ.
 * The page itself is static: the script (app.ts) and its worker are ES
 * modules compiled from src/, onnxruntime-web and OpenSeadragon come from
 * node_modules, nothing from a CDN.
 */
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR, cssColour } from '../report/palette.js';
import type { ModelCard } from './card.js';
import type { RunSettings } from './protocol.js';

/** Where the page finds its parts, relative to itself or absolute on the server. */
export interface PageUrls {
  model: string;
  /** folder of the compiled modules (web/app.js, web/worker.js and what they import) */
  app: string;
  /** folder of onnxruntime-web's dist files */
  runtime: string;
  /** folder of OpenSeadragon's build */
  openseadragon: string;
}

/** What app.ts reads from the page. */
export interface PageConfig {
  urls: PageUrls;
  settings: RunSettings;
  /** the file names of downloads start with this when no image name is known */
  name: string;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page's HTML for `card`, its runtime settings and where its files are. */
export function browserPage(card: ModelCard, settings: RunSettings, urls: PageUrls): string {
  const config: PageConfig = { urls, settings, name: card.name };
  // JSON inside a script element: "</" must not end it
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  const rows: [string, string][] = [
    ['segments', card.classes.join(', ')],
    ['input', card.inChannels === 1 ? 'gray images' : 'RGB images'],
    ['threshold', String(card.threshold)],
    ['validation Dice', card.validationDice === null ? 'not validated' : card.validationDice.toFixed(4)],
    ['trained on', card.trainingData ?? 'not recorded'],
    ['resolution', card.mpp === null ? 'not recorded' : `${card.mpp} µm/px`],
    ['training', `${card.epochs} epochs, saved ${card.savedAt.slice(0, 10)}`],
    ['network', card.architecture],
    ['tiling', `${settings.tile} px tiles, ${settings.overlap * 100}% overlap, Gaussian blending (as patho predict)`],
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>patho: ${escape(card.name)} in the browser</title>
<style>${STYLE}</style>
</head>
<body>
<aside>
<h1>patho</h1>
<p class="lead">Segment an image with <strong>${escape(card.name)}</strong>, in this browser: nothing leaves this machine.</p>
<h2>Model card</h2>
<dl id="card">${rows.map(([k, v]) => `<dt>${escape(k)}</dt><dd>${escape(v)}</dd>`).join('')}</dl>
</aside>
<main>
<form id="controls" onsubmit="return false">
<label class="pick">choose an image <input type="file" id="file" accept="image/png,image/jpeg,image/tiff,image/webp,image/bmp"></label>
<progress id="progress" value="0" max="1"></progress>
<label>opacity <input type="range" id="opacity" min="0" max="100" value="50"></label>
<label class="pick" id="truth-pick"${settings.classes === 1 ? '' : ' hidden'}>ground truth (optional) <input type="file" id="truth" disabled accept="image/png,image/jpeg,image/tiff,image/webp,image/bmp"></label>
<span id="legend" hidden><span class="agreement">agreement</span> <span class="miss">missed</span> <span class="false-alarm">false alarm</span></span>
<span id="truth-note" role="status"></span>
<span id="downloads" hidden><a id="download-mask" download>mask PNG</a> <a id="download-prob" download>probabilities PNG</a> <a id="download-geojson" download>GeoJSON</a></span>
</form>
<p id="status" role="status">drop a PNG or JPEG image here, or choose one</p>
<div id="view"></div>
</main>
<script src="${escape(urls.openseadragon)}openseadragon.min.js"></script>
<script type="application/json" id="patho-config">${json}</script>
<script type="module" src="${escape(urls.app)}web/app.js"></script>
</body>
</html>
`;
}

const STYLE = `
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; display: flex; height: 100vh; color: #222; }
aside { width: 300px; overflow-y: auto; border-right: 1px solid #ccc; padding: 0 1em; flex: none; }
aside h1 { font-size: 1.2em; }
aside h2 { font-size: 1em; margin-top: 1.5em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 0.8em; margin: 0; }
dt { color: #666; }
dd { margin: 0; word-break: break-word; }
main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
#controls { display: flex; gap: 1.5em; align-items: center; padding: 0.5em 1em; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
.pick input { max-width: 16em; }
#progress { width: 12em; }
#status { margin: 0.3em 1em; color: #444; }
#view { flex: 1; background: #111; }
body.dragging #view { outline: 3px dashed #6af; outline-offset: -6px; }
#legend span { padding: 0 4px; font-weight: 600; white-space: nowrap; }
#legend .agreement { background: ${cssColour(AGREEMENT_COLOUR)}; }
#legend .miss { background: ${cssColour(MISS_COLOUR)}; }
#legend .false-alarm { background: ${cssColour(FALSE_ALARM_COLOUR)}; }
`;
