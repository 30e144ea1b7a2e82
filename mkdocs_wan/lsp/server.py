"""`mkdocs-wan lsp`: a language server (pygls, stdio) for the Markdown pages of a site using the plugin.

Features, each failing on its own (one that raises is logged, the others carry on):
diagnostics — the build's own messages at the build's lines, as you type; CodeLens above each
directive following its clip's state (`Generate`, `Generate preview`, `Play (cached, 0.4 MB)`,
`Held for review`, `Rejected`, `step 12/50 · Cancel`); hover with the clip's facts; completion of
option names. Nothing here loads a model: clips are made by the local service, which the commands
call (`mkdocs-wan.generate`, `mkdocs-wan.cancel`); the site and its engine load once per mkdocs.yml.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from mkdocs_wan import __version__
from mkdocs_wan.lsp.analysis import Analysis, Site, find_config
from mkdocs_wan.page.spec import KNOWN_OPTIONS
from mkdocs_wan.settings.options import OPTIONS

log = logging.getLogger("mkdocs_wan.lsp")
server = LanguageServer("mkdocs-wan", __version__)
_sites: dict[Path, Site | None] = {}
_last: dict[str, Analysis] = {}  # uri -> the latest analysis of that buffer
_progress: dict[str, dict[str, Any]] = {}  # clip key -> the service's latest view (while it renders)


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def _site_of(uri: str) -> tuple[Site, str] | None:
    """The site a file belongs to, and its page path; None outside any site using the plugin."""
    path = _path(uri)
    config = find_config(path)
    if config is None:
        return None
    if config not in _sites:
        try:
            _sites[config] = Site(config)
        except Exception as err:  # noqa: BLE001 — a broken mkdocs.yml is one message, not a dead server
            server.window_show_message(t.ShowMessageParams(t.MessageType.Error, f"mkdocs-wan: {config}: {err}"))
            _sites[config] = None
    site = _sites[config]
    if site is None:
        return None
    page = site.page_of(path)
    return (site, page) if page is not None else None


def _analyse(uri: str) -> Analysis | None:
    found = _site_of(uri)
    if found is None:
        return None
    site, page = found
    text = server.workspace.get_text_document(uri).source
    analysis = site.analyse(text, page)
    _last[uri] = analysis
    return analysis


def _publish(uri: str) -> None:
    analysis = _analyse(uri)
    diagnostics = [
        t.Diagnostic(
            range=t.Range(t.Position(problem.line - 1, 0), t.Position(problem.line - 1, 10_000)),
            message=problem.message,
            severity=t.DiagnosticSeverity.Warning,
            source="mkdocs-wan",
        )
        for problem in (analysis.problems if analysis else [])
    ]
    server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
def did_open(params: t.DidOpenTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
def did_change(params: t.DidChangeTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_SAVE)
def did_save(params: t.DidSaveTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_CODE_LENS)
def code_lens(params: t.CodeLensParams) -> list[t.CodeLens]:
    uri = params.text_document.uri
    analysis = _last.get(uri) or _analyse(uri)
    lenses = []
    for clip in analysis.clips if analysis else []:
        key, running = clip.plan.key, _follow(uri, clip.plan.key)
        if running is not None and running.get("status") in ("queued", "running"):
            steps = f"step {running.get('step', 0)}/{running.get('steps') or '…'}"
            lenses.append(_lens(clip.line, f"{steps if running['status'] == 'running' else 'queued'} · Cancel",
                                "mkdocs-wan.cancel", [key]))  # fmt: skip
        elif clip.state == "succeeded":
            lenses.append(_lens(clip.line, f"Play (cached, {_size(clip)})", "mkdocs-wan.play", [key]))
        elif clip.state in ("held", "rejected"):
            title = "Held for review" if clip.state == "held" else "Rejected"
            lenses.append(_lens(clip.line, title, "mkdocs-wan.review", [key]))
        else:
            lenses.append(_lens(clip.line, "Generate", "mkdocs-wan.generate", [uri, clip.line, "final"]))
            lenses.append(_lens(clip.line, "Generate preview", "mkdocs-wan.generate", [uri, clip.line, "preview"]))
    for problem in analysis.problems if analysis else []:
        if "refused by the site's content policy" in problem.message:
            lenses.append(_lens(problem.line, "Refused by policy", "", []))
    return lenses


def _follow(uri: str, key: str) -> dict[str, Any] | None:
    """The service's view of a clip this editor asked for, fresh while it is queued or running."""
    known = _progress.get(key)
    if known is None or known.get("status") not in ("queued", "running"):
        return known
    found = _site_of(uri)
    service = found[0].engine.service() if found is not None else None
    if service is None:
        return None
    try:
        _status, answer = service.call("GET", f"/v1/clips/{key}", timeout=2.0)
    except OSError:
        return known
    if isinstance(answer, dict) and answer.get("status"):
        _progress[key] = answer
        if answer["status"] not in ("queued", "running") and uri in _last:
            del _last[uri]  # the clip's state changed: analyse again
    return _progress[key]


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
def hover(params: t.HoverParams) -> t.Hover | None:
    analysis = _last.get(params.text_document.uri)
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
    uri = params.text_document.uri
    document = server.workspace.get_text_document(uri)
    line = document.lines[params.position.line][: params.position.character] if document.lines else ""
    if "@video-gen" not in line or "{" not in line[line.index("@video-gen") :]:
        return t.CompletionList(is_incomplete=False, items=[])
    value = re.search(r"(\w+)=([^\s}]*)$", line)
    if value is not None:
        labels = _values(uri, value[1])
        kind = t.CompletionItemKind.Value
        return t.CompletionList(is_incomplete=False, items=[t.CompletionItem(label=v, kind=kind) for v in labels])
    items = [
        t.CompletionItem(label=name, kind=t.CompletionItemKind.Property, detail=_help(name), insert_text=f"{name}=")
        for name in sorted(KNOWN_OPTIONS - {"prompt", "segments", "data"})
    ]
    return t.CompletionList(is_incomplete=False, items=items)


def _values(uri: str, option: str) -> list[str]:
    """The values worth offering for `option` on this site: its templates, the model family's
    size (and its portrait form), the pictures inside docs_dir (relative to the page)."""
    found = _site_of(uri)
    if found is None:
        return []
    site, page = found
    settings = site.engine.settings
    if option == "template":
        return sorted(settings["templates"] or {})
    if option == "size":
        width, height = settings.family.size
        return [f"{width}x{height}", f"{height}x{width}"]
    if option == "image":
        folder = (site.docs_dir / page).parent
        pictures = [p for p in site.docs_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]
        return sorted(os.path.relpath(p, folder) for p in pictures[:500])
    if option in ("autoplay", "loop", "controls"):
        return ["true", "false"]
    return []


def _help(name: str) -> str | None:
    option = OPTIONS.get(name)
    return option.help if option is not None else None


@server.command("mkdocs-wan.generate")
def generate(uri: str, line: int, preset: str = "final") -> dict[str, Any]:
    """Send the directive at (uri, line) to the local service; its state follows in the CodeLens."""
    analysis = _last.get(uri) or _analyse(uri)
    clip = next((c for c in (analysis.clips if analysis else []) if c.line == line), None)
    found = _site_of(uri)
    if clip is None or found is None:
        return {"error": "no directive on this line"}
    service = found[0].engine.service()
    if service is None:
        return {"error": "no mkdocs-wan service runs for this site: start it with `mkdocs-wan service`"}
    _kind, options, page = clip.source
    status, answer = service.call("POST", "/v1/clips", {"page": page, "options": dict(options), "preset": preset})
    if isinstance(answer, dict) and answer.get("key"):
        _progress[answer["key"]] = answer
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


def main() -> None:
    """Serve over stdio (what editors start)."""
    server.start_io()
