"""The service's page for people: the queue with live progress, recent clips, clips held for review.

Static HTML, one script and one stylesheet from the service itself, under a CSP that allows
nothing else. The script calls the API with the page's cookie and adds the `X-Mkdocs-Wan` header
that `guard.Guard` requires of state-changing requests from a browser.
"""

from __future__ import annotations

from starlette.responses import Response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"content-security-policy": CSP, "cache-control": "no-store", "referrer-policy": "no-referrer"}

INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mkdocs-wan service</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>mkdocs-wan service</h1><p id="health" role="status" aria-live="polite">Connecting…</p></header>
<main>
<section aria-labelledby="queue-title"><h2 id="queue-title">Queue</h2>
<p id="queue-empty">Nothing is queued.</p><ol id="queue"></ol></section>
<section aria-labelledby="held-title"><h2 id="held-title">Held for review</h2>
<p id="held-empty">No clip is waiting for a decision.</p><ul id="held" class="clips"></ul></section>
<section aria-labelledby="recent-title"><h2 id="recent-title">Recent clips</h2>
<p id="recent-empty">No clip was made since the service started.</p><ul id="recent" class="clips"></ul></section>
</main>
</body>
</html>
"""

SCRIPT = r"""'use strict';
const headers = {'X-Mkdocs-Wan': '1', 'Content-Type': 'application/json'};
const api = (path, options = {}) =>
  fetch(path, {credentials: 'same-origin', ...options}).then((r) => r.json().then((body) => ({ok: r.ok, body})));
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
};
const mb = (bytes) => (bytes / 1048576).toFixed(1) + ' MB';

const shown = {};
function fill(list, empty, items, render) {
  // Redrawn only when it changed: a playing clip keeps playing and a focused button keeps focus.
  const signature = JSON.stringify(items);
  if (shown[list] === signature) return;
  shown[list] = signature;
  document.getElementById(empty).hidden = items.length > 0;
  document.getElementById(list).replaceChildren(...items.map(render));
}

function progress(job) {
  const item = el('li', {}, `${job.title || job.key.slice(0, 12)} — ${job.status}`);
  if (job.status === 'running' && job.steps) {
    const bar = el('progress', {max: String(job.steps), value: String(job.step),
      'aria-label': `Step ${job.step} of ${job.steps}`});
    item.append(' ', bar, ` step ${job.step}/${job.steps}` + (job.eta_s != null ? `, ETA ${job.eta_s} s` : ''));
  }
  return item;
}

function clip(job, decide) {
  const title = job.title || job.key.slice(0, 12);
  const video = el('video', {src: `/v1/clips/${job.key}/video`, controls: '', muted: '', loop: '',
    playsinline: '', preload: 'metadata', 'aria-label': title});
  const figure = el('figure', {}, video, el('figcaption', {}, title));
  const item = el('li', {}, figure);
  const facts = job.record || {};
  const detail = [];
  if (facts.bytes) detail.push(mb(facts.bytes));
  if (facts.quality) detail.push(`QC: ${facts.quality}`);
  if (facts.safety && facts.safety.scores) {
    for (const [label, score] of Object.entries(facts.safety.scores)) {
      detail.push(`${label} ${Number(score).toFixed(2)}`);
    }
  }
  if (job.reasons) detail.push(...job.reasons);
  if (detail.length) item.append(el('p', {}, detail.join(' · ')));
  if (decide) {
    const why = el('input', {type: 'text', id: `why-${job.key}`, name: 'why'});
    const label = el('label', {for: `why-${job.key}`}, 'Reason (optional) ');
    const approve = el('button', {type: 'button'}, `Approve`);
    const reject = el('button', {type: 'button'}, `Reject`);
    approve.setAttribute('aria-label', `Approve ${title}`);
    reject.setAttribute('aria-label', `Reject ${title}`);
    const send = (decision) => api(`/v1/reviews/${job.key}`, {method: 'POST', headers,
      body: JSON.stringify({decision, why: why.value})}).then(refresh);
    approve.addEventListener('click', () => send('approve'));
    reject.addEventListener('click', () => send('reject'));
    item.append(label, why, ' ', approve, ' ', reject);
  }
  return item;
}

async function refresh() {
  const [health, queue, held] = await Promise.all([api('/v1/health'), api('/v1/queue'), api('/v1/held')]);
  const h = health.body;
  const memory = h.vram_free != null ? `, ${mb(h.vram_free)} of ${mb(h.vram_total)} free` : '';
  document.getElementById('health').textContent =
    `${h.state}${h.error ? ': ' + h.error : ''} · ${(h.models || []).join(', ') || 'loading'}` +
    ` on ${h.device || '…'}${memory} · ${h.queue_length} queued`;
  fill('queue', 'queue-empty', queue.body.jobs || [], progress);
  const made = (queue.body.recent || []).filter((j) => j.status === 'succeeded');
  fill('recent', 'recent-empty', made, (j) => clip(j, false));
  fill('held', 'held-empty', held.body.held || [], (j) => clip(j, true));
}

let timer = null;
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => refresh().finally(schedule), 1000);
}
document.addEventListener('DOMContentLoaded', () => refresh().finally(schedule));
"""

STYLE = """body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; }
body { color: #111; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.clips { list-style: none; padding: 0; display: grid; gap: 1rem; }
.clips { grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
.clips li { border: 1px solid #767676; border-radius: .3rem; padding: .5rem; }
figure { margin: 0; } video { width: 100%; background: #000; }
button { font: inherit; padding: .2rem .8rem; margin-top: .3rem; }
button:focus-visible, input:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
input { font: inherit; width: 100%; box-sizing: border-box; }
"""


def index() -> Response:
    return Response(INDEX, media_type="text/html; charset=utf-8", headers=_HEADERS)


def script() -> Response:
    return Response(SCRIPT, media_type="text/javascript; charset=utf-8", headers=_HEADERS)


def style() -> Response:
    return Response(STYLE, media_type="text/css; charset=utf-8", headers=_HEADERS)
