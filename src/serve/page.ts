/**
 * The viewer page of `patho serve`: a list of the folder's images, and for the
 * selected one an OpenSeadragon view of the image with the predicted mask as
 * an overlay, beside the same view with the ground truth when there is one;
 * the two views pan and zoom together. Where there is a ground truth, the
 * "agreement" view shows both on one image instead (agreement, misses and
 * false alarms in the palette's colours). The script is inlined as
 * `(${viewerScript})()`, so it uses nothing but the DOM, `OpenSeadragon` and
 * the server's /api/items.
 */
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR, cssColour } from '../report/palette.js';

/** The few OpenSeadragon calls the viewer makes. */
interface TiledImage {
  setOpacity(opacity: number): void;
}
interface Viewer {
  open(sources: object[]): void;
  addTiledImage(options: object): void;
  addHandler(event: string, handler: (event: { message?: string }) => void): void;
  addOnceHandler(event: string, handler: () => void): void;
  getFullyLoaded(): boolean;
  forceRedraw(): void;
  world: { getItemAt(index: number): TiledImage | undefined; addHandler(event: string, handler: () => void): void };
  viewport: {
    getZoom(current?: boolean): number;
    getCenter(current?: boolean): object;
    zoomTo(zoom: number, ref?: null, immediately?: boolean): void;
    panTo(center: object, immediately?: boolean): void;
    goHome(immediately?: boolean): void;
    getContainerSize(): { x: number; y: number };
  };
}
declare const OpenSeadragon: (options: object) => Viewer;

/** The page's HTML; OpenSeadragon comes from the server's /vendor/openseadragon/. */
export function viewerPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>patho serve: ${title.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</title>
<style>${STYLE}</style>
</head>
<body>
<nav><h1>patho</h1><ul id="items"></ul><section id="models-pane" hidden><h2>models</h2><ul id="models"></ul></section></nav>
<main>
<form id="controls" onsubmit="return false">
<label><input type="checkbox" id="overlay" checked> overlay</label>
<label>opacity <input type="range" id="opacity" min="0" max="100" value="50"></label>
<label>draw <select id="style"><option value="fill">filled</option><option value="outline">outline</option></select></label>
<label>ground truth <select id="compare" disabled><option value="side-by-side">side by side</option><option value="agreement">agreement, on one image</option></select></label>
<span id="legend" hidden><span class="agreement">agreement</span> <span class="miss">missed</span> <span class="false-alarm">false alarm</span></span>
<span id="status" role="status">loading</span>
</form>
<div id="views">
<section><h2 id="prediction-title">prediction</h2><div id="view-prediction" class="view"></div></section>
<section id="truth-pane" hidden><h2>ground truth</h2><div id="view-truth" class="view"></div></section>
</div>
</main>
<script src="/vendor/openseadragon/openseadragon.min.js"></script>
<script>(${viewerScript.toString()})();</script>
</body>
</html>
`;
}

/** Lists the items, opens the first, and wires the controls and the synchronised views. */
export function viewerScript(): void {
  type Item = { id: string; name: string; image: string; mask?: string; truth?: string };
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const overlay = $<HTMLInputElement>('overlay');
  const opacity = $<HTMLInputElement>('opacity');
  const style = $<HTMLSelectElement>('style');
  const compare = $<HTMLSelectElement>('compare');
  const status = $<HTMLElement>('status');
  const viewer = (id: string) =>
    OpenSeadragon({
      id,
      prefixUrl: '/vendor/openseadragon/images/',
      // the 2D canvas draws exactly what the tiles hold (and tests can read it back)
      drawer: 'canvas',
      showNavigator: true,
      maxZoomPixelRatio: 8,
      imageSmoothingEnabled: false,
      gestureSettingsMouse: { clickToZoom: false },
    });
  const views = { prediction: viewer('view-prediction'), truth: viewer('view-truth') };
  let current: Item | null = null;
  // an overlay the server will not draw (a truth of another size) is said, not left loading
  let failure = '';
  // Showing or hiding the ground truth resizes the views, and OpenSeadragon
  // meets a resize by scaling the zoom it had, which no longer fits the image.
  // So a view is fitted again once it is open and has taken its new size.
  const openFitted = (view: Viewer, id: string, sources: object[]) => {
    let state: 'opening' | 'open' | 'failed' = 'opening';
    view.addOnceHandler('open', () => (state = 'open'));
    view.addOnceHandler('open-failed', () => (state = 'failed'));
    view.open(sources);
    const element = $<HTMLElement>(id);
    const fit = () => {
      if (state === 'failed') return;
      const size = view.viewport.getContainerSize();
      if (state === 'open' && Math.round(size.x) === element.clientWidth && Math.round(size.y) === element.clientHeight) view.viewport.goHome(true);
      else requestAnimationFrame(fit);
    };
    requestAnimationFrame(fit);
  };

  const dzi = (path: string, query: string) => `/dzi/${path.split('/').map(encodeURIComponent).join('/')}.dzi${query}`;
  const shownOpacity = () => (overlay.checked ? Number(opacity.value) / 100 : 0);
  // a mask in its colour, or (`truth` given) the mask compared with the ground truth
  const overlaySource = (path: string, colour: string, truth?: string) => ({
    tileSource: dzi(path, `?style=${style.value}&` + (truth ? `overlay=agreement&truth=${encodeURIComponent(truth)}` : `colour=${colour}`)),
    opacity: shownOpacity(),
    x: 0,
    y: 0,
    width: 1,
  });
  // the prediction view's overlay: the agreement where asked and possible, else the prediction alone
  const predictionSource = (item: Item & { mask: string }) =>
    overlaySource(item.mask, 'prediction', compare.value === 'agreement' ? item.truth : undefined);

  const open = (item: Item) => {
    current = item;
    for (const li of Array.from(document.querySelectorAll('#items li'))) li.classList.toggle('current', li.getAttribute('data-id') === item.id);
    status.textContent = 'loading';
    failure = '';
    compare.disabled = !(item.mask && item.truth);
    const agreement = !compare.disabled && compare.value === 'agreement';
    $<HTMLElement>('legend').hidden = !agreement;
    $<HTMLElement>('prediction-title').textContent = !item.mask ? `${item.name} (no mask)` : agreement ? `prediction and ground truth: ${item.name}` : `prediction: ${item.name}`;
    // OpenSeadragon keeps what it is given, so each view gets its own objects
    const base = () => ({ tileSource: dzi(item.image, '?style=image'), x: 0, y: 0, width: 1 });
    $<HTMLElement>('truth-pane').hidden = !item.truth || agreement;
    openFitted(views.prediction, 'view-prediction', item.mask ? [base(), predictionSource({ ...item, mask: item.mask })] : [base()]);
    if (item.truth && !agreement) openFitted(views.truth, 'view-truth', [base(), overlaySource(item.truth, 'truth')]);
  };

  // item 0 of a view is the image, item 1 its overlay
  const applyOpacity = () => {
    for (const view of [views.prediction, views.truth]) view.world.getItemAt(1)?.setOpacity(shownOpacity());
  };
  overlay.addEventListener('change', applyOpacity);
  opacity.addEventListener('input', applyOpacity);
  style.addEventListener('change', () => {
    if (!current) return;
    const { mask, truth } = current;
    if (mask) views.prediction.addTiledImage({ ...predictionSource({ ...current, mask }), index: 1, replace: true });
    if (truth && !$<HTMLElement>('truth-pane').hidden) views.truth.addTiledImage({ ...overlaySource(truth, 'truth'), index: 1, replace: true });
  });
  // one view or two: the item opens again with its views fitted to their new size
  compare.addEventListener('change', () => {
    if (current) open(current);
  });

  // the other view follows the one under the pointer (the one being moved)
  // frame by frame; changes of a view fitting itself after a resize are not
  // passed on. A jump without animation does not redraw by itself.
  let leader: Viewer | null = null;
  const follow = (from: Viewer, id: string, to: Viewer) => {
    $<HTMLElement>(id).addEventListener('pointerenter', () => (leader = from));
    from.addHandler('viewport-change', () => {
      if (leader !== from) return;
      to.viewport.zoomTo(from.viewport.getZoom(true), null, true);
      to.viewport.panTo(from.viewport.getCenter(true), true);
      to.forceRedraw();
    });
  };
  follow(views.prediction, 'view-prediction', views.truth);
  follow(views.truth, 'view-truth', views.prediction);

  const updateStatus = () => {
    const loaded = views.prediction.getFullyLoaded() && ($<HTMLElement>('truth-pane').hidden || views.truth.getFullyLoaded());
    status.textContent = failure || (loaded ? 'ready' : 'loading');
  };
  for (const view of [views.prediction, views.truth]) {
    view.addHandler('add-item-failed', (event) => {
      failure = `cannot draw the overlay: ${event.message}`;
      updateStatus();
    });
    view.world.addHandler('add-item', () => setTimeout(updateStatus));
    view.addHandler('fully-loaded-change', updateStatus);
    view.addHandler('animation-finish', updateStatus);
  }

  // beside each model of the folder: its page that runs it in the browser (src/web/)
  fetch('/browser/models')
    .then((response) => response.json() as Promise<{ path: string; name: string }[]>)
    .then((models) => {
      for (const model of models) {
        const li = document.createElement('li');
        const link = document.createElement('a');
        link.href = `/browser/run/${model.path.split('/').map(encodeURIComponent).join('/')}`;
        link.textContent = 'run in the browser';
        li.append(`${model.path} `, link);
        $<HTMLUListElement>('models').append(li);
      }
      $<HTMLElement>('models-pane').hidden = models.length === 0;
    })
    // the viewer works without the list; a failure only leaves the pane hidden
    .catch(() => undefined);

  fetch('/api/items')
    .then((response) => response.json() as Promise<Item[]>)
    .then((items) => {
      const list = $<HTMLUListElement>('items');
      for (const item of items) {
        const li = document.createElement('li');
        li.textContent = item.id + (item.mask ? '' : ' (image only)');
        li.setAttribute('data-id', item.id);
        li.addEventListener('click', () => open(item));
        list.append(li);
      }
      if (items.length > 0) open(items[0]);
      else status.textContent = 'no images in this folder';
    })
    .catch((error: unknown) => {
      status.textContent = `cannot list the folder: ${error}`;
    });
}

const STYLE = `
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; display: flex; height: 100vh; color: #222; }
nav { width: 220px; overflow-y: auto; border-right: 1px solid #ccc; padding: 0 0.5em; flex: none; }
nav h1 { font-size: 1.2em; }
nav ul { list-style: none; padding: 0; margin: 0; }
nav li { padding: 3px 6px; cursor: pointer; border-radius: 3px; word-break: break-all; }
nav li:hover { background: #eee; }
nav li.current { background: #dde8ff; font-weight: 600; }
nav h2 { font-size: 1em; margin: 1em 0 0.3em; }
#models li { cursor: default; }
main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
#controls { display: flex; gap: 0.5em 1.5em; align-items: center; padding: 0.5em 1em; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
#controls label, #legend span { white-space: nowrap; }
#status { margin-left: auto; color: #666; }
#views { flex: 1; display: flex; min-height: 0; }
#views section { flex: 1; display: flex; flex-direction: column; min-width: 0; }
#views h2 { font-size: 1em; margin: 0.3em 1em; }
.view { flex: 1; background: #111; }
#legend span { padding: 0 4px; font-weight: 600; }
#legend .agreement { background: ${cssColour(AGREEMENT_COLOUR)}; }
#legend .miss { background: ${cssColour(MISS_COLOUR)}; }
#legend .false-alarm { background: ${cssColour(FALSE_ALARM_COLOUR)}; }
`;
