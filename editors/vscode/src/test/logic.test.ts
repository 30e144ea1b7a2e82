// The extension's own logic under Node's test runner (`npm test`); the rest is tested in a real
// VS Code (tests/test_vscode.py drives code-server).
import assert from "node:assert/strict";
import { test } from "node:test";
import { directive, escapeHtml, optionValue, playerHtml, statusBar, Status } from "../logic";

test("a typed prompt becomes one directive line that keeps the comment closed", () => {
  assert.equal(directive("  A kite\n over a hill "), "<!-- @video-gen A kite over a hill -->");
  assert.throws(() => directive("A kite --> <script>"), /would end the HTML comment/);
  assert.throws(() => directive("   "), /empty/);
  assert.throws(() => directive("Sets {a}"), /brace/);
});

test("template fields are quoted as the directive parser (shlex) reads them back", () => {
  const product = { name: "product", fields: ["name", "color", "unused"] };
  assert.equal(
    directive("", product, { name: 'desk "lamp" \\ 2', color: "brass" }),
    '<!-- @video-gen {template=product name="desk \\"lamp\\" \\\\ 2" color=brass} -->',
  );
  assert.equal(optionValue("img/start.png"), "img/start.png");
  assert.equal(optionValue("a}b"), '"a}b"');
  assert.throws(() => directive("", product, { name: "x -- y" }), /HTML comment/);
});

test("the player escapes what the page wrote and runs only its own script", () => {
  const clip = { key: "a".repeat(64), title: '<img src=x onerror="alert(1)">', state: "succeeded", path: "/c/a.mp4", clips_dir: "/c" };
  const html = playerHtml(clip, { video: "https://file+.vscode-resource/c/a.mp4" }, "https://file+.vscode-resource", "N0nce");
  assert.ok(!html.includes("<img"));
  assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
  assert.match(html, /default-src 'none'; media-src https:\/\/file\+\.vscode-resource; img-src https:\/\/file\+\.vscode-resource; style-src 'nonce-N0nce'; script-src 'nonce-N0nce'"/);
  assert.deepEqual(html.match(/<script[^>]*>/g), ['<script nonce="N0nce">']);
  assert.ok(html.includes('<video id="clip" src="https://file+.vscode-resource/c/a.mp4"'));
  const waiting = playerHtml({ key: "b".repeat(64), state: "missing", progress: { key: "b", status: "running", step: 3, steps: 8 } }, {}, "x", "n");
  assert.ok(!waiting.includes("<video") && !waiting.includes("<script") && waiting.includes("step 3 of 8"));
  assert.equal(escapeHtml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
});

test("the status bar says what the service is doing, and what a click does", () => {
  const base: Status = { site: "/s/mkdocs.yml", service: null, page: null, following: [] };
  assert.equal(statusBar(base, false).command, "workbench.trust.manage");
  assert.equal(statusBar({ ...base, site: null }, true).command, undefined);
  assert.equal(statusBar(base, true).command, "mkdocs-wan.startService");
  const ready = { ...base, service: { state: "ready", queue_length: 2, vram_free: 21.3e9 }, page: "http://127.0.0.1:1/?token=t" };
  assert.equal(statusBar(ready, true).text, "$(device-camera-video) mkdocs-wan: ready · 2 queued · 21.3 GB free");
  const running = { ...ready, following: [{ key: "k".repeat(64), status: "running", step: 3, steps: 8, title: "A red kite over a hill at dusk, gliding" }] };
  const shown = statusBar(running, true);
  assert.equal(shown.command, "mkdocs-wan.cancelRunning");
  assert.equal(shown.text, "$(sync~spin) step 3/8 · A red kite over a hill at dusk…");
  const failed = statusBar({ ...ready, following: [{ key: "k", status: "failed", error: "out of memory" }] }, true);
  assert.match(failed.tooltip, /Last clip failed: out of memory/);
});
