// The extension's own logic, free of the `vscode` module so Node's test runner can check it:
// what the status bar says, the directive "Insert video directive" writes, the player's HTML.

/** A clip the language server follows on the local service (`mkdocs-wan/progress`). */
export interface Followed {
  key: string;
  status: string;
  step?: number | null;
  steps?: number | null;
  queue_position?: number | null;
  error?: string | null;
  title?: string;
}

/** `mkdocs-wan/status`: the site's service (null when none runs) and the clips followed. */
export interface Status {
  site: string | null;
  service: {
    state: string;
    queue_length?: number;
    vram_free?: number | null;
    vram_total?: number | null;
    device?: string | null;
  } | null;
  page: string | null;
  following: Followed[];
}

/** `mkdocs-wan/clipAt`: the clip of the directive at or above the cursor ({} when none). */
export interface ClipAt {
  key?: string;
  line?: number;
  title?: string;
  state?: string;
  why?: string | null;
  path?: string | null;
  poster?: string | null;
  clips_dir?: string;
  progress?: Followed | null;
}

export interface Bar {
  text: string;
  tooltip: string;
  command: string | undefined;
}

const ACTIVE = new Set(["queued", "running"]);

export function gigabytes(bytes: number | null | undefined): string | undefined {
  return typeof bytes === "number" && bytes >= 0 ? `${(bytes / 1e9).toFixed(1)} GB` : undefined;
}

export function shorten(text: string, most = 32): string {
  return text.length <= most ? text : `${text.slice(0, most - 1).replace(/[\s,.;:]+$/, "")}…`;
}

/** The status bar: a clip being made (click: cancel), else the service's state (click: its page,
 * or start it when none runs). */
export function statusBar(status: Status | undefined, trusted: boolean): Bar {
  if (!trusted) {
    return { text: "$(shield) mkdocs-wan: restricted", tooltip: "Untrusted folder: mkdocs-wan runs nothing here until you trust it.", command: "workbench.trust.manage" };
  }
  if (status === undefined || status.site === null) {
    return { text: "$(device-camera-video) mkdocs-wan", tooltip: "No site using the mkdocs-wan plugin around this file.", command: undefined };
  }
  const busy = status.following.find((clip) => ACTIVE.has(clip.status));
  if (busy !== undefined) {
    const where = busy.status === "running"
      ? `step ${busy.step ?? 0}/${busy.steps ?? "…"}`
      : `queued${typeof busy.queue_position === "number" ? ` #${busy.queue_position + 1}` : ""}`;
    return {
      text: `$(sync~spin) ${where} · ${shorten(busy.title ?? busy.key.slice(0, 12))}`,
      tooltip: `Making "${busy.title ?? busy.key}" on the local service. Click to cancel it.`,
      command: "mkdocs-wan.cancelRunning",
    };
  }
  const service = status.service;
  if (service === null) {
    return { text: "$(circle-slash) mkdocs-wan: no service", tooltip: `No mkdocs-wan service runs for ${status.site}. Click to start one.`, command: "mkdocs-wan.startService" };
  }
  const parts = [`mkdocs-wan: ${service.state}`];
  if (typeof service.queue_length === "number") parts.push(`${service.queue_length} queued`);
  const free = gigabytes(service.vram_free);
  if (free !== undefined) parts.push(`${free} free`);
  const last = status.following[0];
  const failed = last !== undefined && last.status === "failed" ? `\nLast clip failed: ${last.error ?? "see the service's log"}` : "";
  return {
    text: `$(device-camera-video) ${parts.join(" · ")}`,
    tooltip: `The local service for ${status.site}${service.device ? ` on ${service.device}` : ""}. Click for its page (queue and review).${failed}`,
    command: "mkdocs-wan.openServicePage",
  };
}

/** One option value as the directive parser (shlex) reads it back: bare when it is one plain
 * word, else in double quotes with `\` and `"` escaped. */
export function optionValue(value: string): string {
  return /^[A-Za-z0-9._/:+-]+$/.test(value) ? value : `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Text a writer typed, as one line that cannot end the HTML comment it sits in. */
export function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.includes("--")) {
    throw new Error("a directive cannot hold \"--\" (it would end the HTML comment)");
  }
  return flat;
}

/** The comment directive for a prompt, or for a template and its fields' values. */
export function directive(prompt: string, template?: { name: string; fields: string[] }, values: Record<string, string> = {}): string {
  const options: string[] = [];
  if (template !== undefined) {
    options.push(`template=${optionValue(template.name)}`);
    for (const field of template.fields) {
      if (values[field] !== undefined && values[field] !== "") options.push(`${field}=${optionValue(oneLine(values[field]))}`);
    }
  }
  const text = oneLine(prompt);
  if (text === "" && template === undefined) throw new Error("the prompt is empty");
  if (/[{}]\s*$/.test(text)) throw new Error("a prompt cannot end with a brace (it would read as options)");
  const block = options.length > 0 ? `{${options.join(" ")}}` : "";
  return `<!-- @video-gen ${[text, block].filter((part) => part !== "").join(" ")} -->`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** What the player says for a clip that cannot play yet. */
export function notPlaying(clip: ClipAt): string {
  if (clip.key === undefined) return "No video directive at or above the cursor.";
  const progress = clip.progress;
  if (progress && progress.status === "running") return `Making it: step ${progress.step ?? 0} of ${progress.steps ?? "…"}.`;
  if (progress && progress.status === "queued") return "Queued on the local service.";
  if (progress && progress.status === "failed") return `The service could not make it: ${progress.error ?? "see its log"}.`;
  switch (clip.state) {
    case "held":
      return "Held for review: approve it on the service's page or with `mkdocs-wan approve`.";
    case "rejected":
      return `Rejected in review${clip.why ? `: ${clip.why}` : ""}.`;
    default:
      return "Not generated yet: click Generate (or Generate preview) above the directive.";
  }
}

/** The player's page. Media and images come only from the webview's own resource origin (the
 * cache's clips folder is its one local root); styles and the one script only with the nonce. The
 * script only starts the clip: a webview's `autoplay` alone stays paused in Chromium. */
export function playerHtml(clip: ClipAt, sources: { video?: string; poster?: string }, cspSource: string, nonce: string): string {
  const csp = `default-src 'none'; media-src ${cspSource}; img-src ${cspSource}; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'`;
  const title = escapeHtml(clip.title ?? "mkdocs-wan");
  const body = sources.video !== undefined
    ? `<video id="clip" src="${escapeHtml(sources.video)}"${sources.poster ? ` poster="${escapeHtml(sources.poster)}"` : ""} controls autoplay muted loop playsinline aria-label="${title}"></video>
<p class="meta">${escapeHtml(clip.state === "held" ? "Held for review (shown to you, not to readers)" : "Cached")} · key ${escapeHtml((clip.key ?? "").slice(0, 12))}</p>
<script nonce="${nonce}">document.getElementById("clip").play().catch(() => {});</script>`
    : `<p class="note" role="status">${escapeHtml(notPlaying(clip))}</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
video { width: 100%; max-height: 70vh; background: #000; }
.meta, .note { color: var(--vscode-descriptionForeground); }
</style><title>${title}</title></head>
<body><h1>${title}</h1>
${body}
</body></html>`;
}
