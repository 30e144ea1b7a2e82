"""`mkdocs-wan lsp`: a language server (pygls, stdio) for the Markdown pages of a site using the plugin.

Features, each failing on its own (one that raises is logged, the others carry on):
diagnostics — the build's own messages at the build's lines, as you type; CodeLens above each
directive following its clip's state (`Generate`, `Generate preview`, `Play (cached, 0.4 MB)`,
`Held for review`, `Rejected`, `step 12/50 · Cancel`); hover with the clip's facts; completion of
option names. Nothing here loads a model: clips are made by the local service, which the commands
call (`mkdocs-wan.generate`, `mkdocs-wan.cancel`); the site and its engine load once per mkdocs.yml.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from mkdocs_wan import __version__
from mkdocs_wan.lsp.analysis import Analysis, Site, find_config
from mkdocs_wan.lsp.complete import complete
from mkdocs_wan.lsp.follow import ACTIVE, Follower

log = logging.getLogger("mkdocs_wan.lsp")
server = LanguageServer("mkdocs-wan", __version__)
_sites: dict[Path, Site | None] = {}
Stamp = tuple[int, int]  # (buffer version, times its clips changed state): what an analysis is of
_last: dict[str, tuple[Stamp, Analysis | None]] = {}  # uri -> its latest analysis
_changes: dict[str, int] = {}  # uri -> how often its clips changed state (a clip settled, a save)
_running: dict[str, tuple[Stamp, asyncio.Task[Analysis | None]]] = {}  # uri -> the analysis under way
_pending: dict[str, asyncio.TimerHandle] = {}  # uri -> its analysis, due once typing pauses
_worker = ThreadPoolExecutor(1, thread_name_prefix="mkdocs-wan-analysis")  # one analysis at a time
_loading = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None  # the server's event loop, once it runs
SETTLE_S = 0.2


def _stale(uris: set[str]) -> None:
    """A followed clip settled: its buffers' clips have a new state; analyse them again."""
    for uri in uris:
        _changes[uri] = _changes.get(uri, 0) + 1
        _start(uri)


def _stamp(uri: str) -> Stamp:
    return server.workspace.get_text_document(uri).version or 0, _changes.get(uri, 0)


follower = Follower(server, _stale)


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def _load(config: Path) -> Site | None:
    """The site of a mkdocs.yml, loaded once (a broken one is one message, not a dead server).
    The worker thread and the event loop (a status request) may both ask first: one loads it."""
    with _loading:
        return _sites[config] if config in _sites else _load_now(config)


def _load_now(config: Path) -> Site | None:
    try:
        _sites[config] = Site(config)
    except Exception as err:  # noqa: BLE001
        _sites[config] = None
        said = t.ShowMessageParams(t.MessageType.Error, f"mkdocs-wan: {config}: {err}")
        if _loop is not None:  # from the worker thread: messages go out from the event loop
            _loop.call_soon_threadsafe(server.window_show_message, said)
        else:
            server.window_show_message(said)
    return _sites[config]


def _site_of(uri: str) -> tuple[Site, str] | None:
    """The site a file belongs to, and its page path; None outside any site using the plugin."""
    path = _path(uri)
    config = find_config(path)
    site = _load(config) if config is not None else None
    page = site.page_of(path) if site is not None else None
    return (site, page) if site is not None and page is not None else None


def _analyse(uri: str, text: str) -> Analysis | None:
    """Runs on the worker thread: rendering a page takes long enough to stall every request."""
    found = _site_of(uri)
    return found[0].analyse(text, found[1]) if found is not None else None


def _start(uri: str) -> asyncio.Task[Analysis | None]:
    """The analysis of the buffer as it is now (one already under way for this text is reused)."""
    waiting = _pending.pop(uri, None)
    if waiting is not None:
        waiting.cancel()
    stamp = _stamp(uri)
    under_way = _running.get(uri)
    if under_way is not None and under_way[0] == stamp:
        return under_way[1]
    global _loop
    _loop = asyncio.get_running_loop()
    task = _loop.create_task(_analysis(uri, server.workspace.get_text_document(uri).source, stamp))
    _running[uri] = (stamp, task)
    return task


async def _analysis(uri: str, text: str, stamp: Stamp) -> Analysis | None:
    """Analyse off the event loop, then (if the buffer is still this text) keep the result, publish
    its diagnostics with the buffer version they belong to, and have the lenses asked for again."""
    try:
        analysis = await asyncio.get_running_loop().run_in_executor(_worker, _analyse, uri, text)
    except Exception:  # an analysis that fails is logged; the server carries on
        log.exception("mkdocs-wan: analysing %s failed", uri)
        analysis = None
    if _stamp(uri) != stamp:
        return analysis  # typed over (or a clip settled) meanwhile: the newer analysis publishes
    _last[uri] = (stamp, analysis)
    diagnostics = [
        t.Diagnostic(
            range=t.Range(t.Position(problem.line - 1, 0), t.Position(problem.line - 1, 10_000)),
            message=problem.message,
            severity=t.DiagnosticSeverity.Warning,
            source="mkdocs-wan",
        )
        for problem in (analysis.problems if analysis else [])
    ]
    server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri, diagnostics, stamp[0]))
    follower.refresh_lenses()
    return analysis


async def _current(uri: str) -> Analysis | None:
    """The analysis of the buffer as it is now (made now if typing has not settled yet)."""
    kept = _last.get(uri)
    if kept is not None and kept[0] == _stamp(uri):
        return kept[1]
    return await _start(uri)


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
def did_open(params: t.DidOpenTextDocumentParams) -> None:
    _start(params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
def did_change(params: t.DidChangeTextDocumentParams) -> None:
    """Analyse once typing pauses: each analysis renders the whole page, and a burst of keystrokes
    needs only the last one (a request about the buffer meanwhile analyses it at once)."""
    uri = params.text_document.uri
    waiting = _pending.pop(uri, None)
    if waiting is not None:
        waiting.cancel()
    _pending[uri] = asyncio.get_running_loop().call_later(SETTLE_S, _start, uri)


@server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
def did_close(params: t.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    waiting = _pending.pop(uri, None)
    if waiting is not None:
        waiting.cancel()
    _last.pop(uri, None)
    _running.pop(uri, None)
    _changes.pop(uri, None)


@server.feature(t.TEXT_DOCUMENT_DID_SAVE)
def did_save(params: t.DidSaveTextDocumentParams) -> None:
    _stale({params.text_document.uri})  # a save can change what the page's clips depend on


@server.feature(t.TEXT_DOCUMENT_CODE_LENS)
def code_lens(params: t.CodeLensParams) -> list[t.CodeLens]:
    """Answered at once from the latest analysis: VS Code waits between asking for lenses as long as
    they took to answer, so a slow answer would hold back every later update (progress included).
    Until the first analysis lands there are none; it asks for them again when one does."""
    uri = params.text_document.uri
    kept = _last.get(uri)
    analysis = kept[1] if kept is not None else None
    behind = kept is not None and kept[0] != _stamp(uri)  # the service knows better meanwhile
    lenses = []
    for clip in analysis.clips if analysis else []:
        key, running = clip.plan.key, follower.view(clip.plan.key)
        state = running["status"] if behind and running is not None else clip.state
        if running is not None and running.get("status") in ACTIVE:
            steps = f"step {running.get('step', 0)}/{running.get('steps') or '…'}"
            lenses.append(_lens(clip.line, f"{steps if running['status'] == 'running' else 'queued'} · Cancel",
                                "mkdocs-wan.cancel", [key]))  # fmt: skip
        elif state == "succeeded":
            lenses.append(_lens(clip.line, f"Play (cached, {_size(clip)})", "mkdocs-wan.play", [uri, clip.line]))
        elif state in ("held", "rejected"):
            title = "Held for review" if state == "held" else "Rejected"
            lenses.append(_lens(clip.line, title, "mkdocs-wan.review", [key]))
        else:
            lenses.append(_lens(clip.line, "Generate", "mkdocs-wan.generate", [uri, clip.line, "final"]))
            lenses.append(_lens(clip.line, "Generate preview", "mkdocs-wan.generate", [uri, clip.line, "preview"]))
    for problem in analysis.problems if analysis else []:
        if "refused by the site's content policy" in problem.message:
            lenses.append(_lens(problem.line, "Refused by policy", "", []))
    return lenses


def _lens(line: int, title: str, command: str, arguments: list[Any]) -> t.CodeLens:
    where = t.Range(t.Position(line - 1, 0), t.Position(line - 1, 0))
    return t.CodeLens(range=where, command=t.Command(title=title, command=command, arguments=arguments))


def _size(clip: Any) -> str:
    found = _site_of_key(clip.plan.key)
    path = found.engine.cache.path(clip.plan.key) if found else None
    try:
        return f"{path.stat().st_size / 1e6:.1f} MB" if path else "?"
    except OSError:
        return "?"


def _site_of_key(key: str) -> Site | None:
    for site in _sites.values():
        if site is not None and site.engine.cache.has(key):
            return site
    return None


@server.feature(t.TEXT_DOCUMENT_HOVER)
async def hover(params: t.HoverParams) -> t.Hover | None:
    analysis = await _current(params.text_document.uri)
    line = params.position.line + 1
    clip = next((c for c in (analysis.clips if analysis else []) if c.line == line), None)
    if clip is None:
        return None
    plan, show = clip.plan, clip.plan.display
    site = _site_of(params.text_document.uri)
    lines = [f"**{plan.title}**", "", f"- status: {clip.state}" + (f" ({clip.why})" if clip.why else "")]
    if site is not None:
        lines.append(f"- model: {site[0].engine.settings.model.name}")
        poster = site[0].engine.cache.poster_path(plan.key)
        if clip.state in ("succeeded", "held") and poster.is_file():
            lines[1:1] = [f"![poster]({poster.as_uri()})", ""]
    lines += [f"- {show.width}x{show.height}, {plan.frames} frames at {show.fps} fps", f"- key {plan.key[:12]}"]
    return t.Hover(contents=t.MarkupContent(t.MarkupKind.Markdown, "\n".join(lines)))


@server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["{", " ", "="]))
def completion(params: t.CompletionParams) -> t.CompletionList:
    """Option names inside a directive's `{…}`; after `name=`, the values the site allows."""
    document = server.workspace.get_text_document(params.text_document.uri)
    line = document.lines[params.position.line][: params.position.character] if document.lines else ""
    found = _site_of(params.text_document.uri)
    return complete(line, found[0] if found else None, found[1] if found else "")


@server.command("mkdocs-wan.generate")
async def generate(uri: str, line: int, preset: str = "final") -> dict[str, Any]:
    """Send the directive at (uri, line) to the local service; its state follows in the CodeLens."""
    analysis = await _current(uri)
    clip = next((c for c in (analysis.clips if analysis else []) if c.line == line), None)
    found = _site_of(uri)
    if clip is None or found is None:
        return {"error": "no directive on this line"}
    service = found[0].engine.service()
    if service is None:
        return {"error": "no mkdocs-wan service runs for this site: start it with `mkdocs-wan service`"}
    _kind, options, page = clip.source
    body = {"page": page, "options": dict(options), "preset": preset}
    call = functools.partial(service.call, "POST", "/v1/clips", body)
    status, answer = await asyncio.get_running_loop().run_in_executor(None, call)
    if isinstance(answer, dict) and answer.get("key"):
        follower.track(answer["key"], uri, service, answer, clip.plan.title)
    return answer if isinstance(answer, dict) else {"error": f"the service answered {status}"}


@server.command("mkdocs-wan.cancel")
def cancel(key: str) -> dict[str, Any]:
    """Cancel a clip on the local service (a running one stops after its current step)."""
    for site in _sites.values():
        service = site.engine.service() if site is not None else None
        if service is not None:
            _status, answer = service.call("POST", f"/v1/clips/{key}/cancel")
            return answer if isinstance(answer, dict) else {}
    return {"error": "no mkdocs-wan service runs"}


def _arg(params: Any, name: str, kind: type, default: Any) -> Any:
    """A field of a custom request's params (pygls gives them as a namedtuple), or `default`."""
    value = getattr(params, name, default)
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


@server.feature("mkdocs-wan/clipAt")
async def clip_at(params: Any) -> dict[str, Any]:
    """The clip of the directive at or above a 0-based line (the nearest one that starts there or
    before): what the editor's player shows. Its file path is the cache's, never a URL."""
    uri, line = _arg(params, "uri", str, ""), _arg(params, "line", int, -1) + 1
    analysis = await _current(uri) if uri else None
    above = [clip for clip in (analysis.clips if analysis else []) if clip.line <= line]
    found = _site_of(uri) if above else None
    if found is None:
        return {}
    clip, cache = max(above, key=lambda c: c.line), found[0].engine.cache
    path, poster = cache.path(clip.plan.key), cache.poster_path(clip.plan.key)
    playable = clip.state in ("succeeded", "held") and path.is_file()
    return {
        "key": clip.plan.key, "line": clip.line - 1, "title": clip.plan.title, "state": clip.state, "why": clip.why,
        "path": str(path) if playable else None, "poster": str(poster) if playable and poster.is_file() else None,
        "clips_dir": str(cache.clips), "progress": follower.view(clip.plan.key),
    }  # fmt: skip


@server.feature("mkdocs-wan/status")
def status(params: Any) -> dict[str, Any]:
    """The local service of the site `uri` belongs to (its health, or null when none runs) and the
    clips this editor follows: what the VS Code status bar shows."""
    found = _site_of(_arg(params, "uri", str, ""))
    service = found[0].engine.service() if found is not None else None
    health: Any = None
    if service is not None:
        try:
            _code, health = service.call("GET", "/v1/health", timeout=2.0)
        except OSError:
            health = None
    return {
        "site": str(found[0].config_file) if found is not None else None,
        "service": health if isinstance(health, dict) else None,
        "page": f"{service.url}/?token={service.token}" if service is not None else None,
        "following": follower.following(),
    }


@server.feature("mkdocs-wan/templates")
def templates(params: Any) -> list[dict[str, Any]]:
    """The site's prompt templates and their fields (for "Insert video directive")."""
    found = _site_of(_arg(params, "uri", str, ""))
    kept = (found[0].engine.settings["templates"] or {}) if found is not None else {}
    return [{"name": name, "fields": list(kept[name].fields)} for name in sorted(kept)]


def main() -> None:
    """Serve over stdio (what editors start)."""
    server.start_io()
