"""`mkdocs_wan.extension`: the same directive → cached clip → `<video>` work as a Python-Markdown
extension, for engines that run Markdown extensions but not MkDocs plugins (plain
`markdown.markdown()`, Pelican, Zensical).

It shares the plugin's core (directives, spec, plan, cache, generation, embed). Differences that
come from having no site around it: clips are copied (hard-linked) into `static_dir` inside
`docs_dir`, which the engine publishes as static files, and `src` is `url_prefix` + file name
(site-absolute by default, `/assets/videos/<key>.mp4`). A clip is written there only when it is
missing, so a rebuild writes nothing and an engine's live server can't loop on its own output.
With Zensical, which collects static files before it renders pages, set `site_dir` too, so a
clip generated during a build is in that build's output. Generation is blocking, with the model
loaded once per process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from mkdocs.plugins import get_plugin_logger

from mkdocs_wan.cache import CacheError, ClipCache
from mkdocs_wan.config import DEFAULT_MODEL
from mkdocs_wan.directives import DirectiveError, find_directives, parse_options
from mkdocs_wan.embed import error_html, video_html
from mkdocs_wan.encode import ENCODER
from mkdocs_wan.generate import ModelLoadError, WanGenerator
from mkdocs_wan.images import resolve_image
from mkdocs_wan.make import generate_missing
from mkdocs_wan.models import ModelRef
from mkdocs_wan.plan import plan_clip
from mkdocs_wan.spec import FIELDS, SpecError, parse_crf, presentation_of

log = get_plugin_logger(__name__)

_GENERATORS: dict[tuple[Any, ...], WanGenerator] = {}  # one resident model per settings, per process
_CACHES: dict[Path, ClipCache] = {}  # one open index per cache folder, not one per page


class WanExtension(markdown.Extension):
    """Options use the plugin's names; paths are relative to the current directory."""

    def __init__(self, **kwargs: Any) -> None:
        self.config = {
            "model": [DEFAULT_MODEL, "Hub id, local folder, or `tiny`"],
            "revision": ["", "Hub revision"],
            "cache_dir": [".cache/mkdocs-wan", "clip cache"],
            "docs_dir": ["docs", "the folder the engine publishes"],
            "static_dir": ["assets/videos", "where clips are placed, inside docs_dir"],
            "site_dir": ["", "also place new clips in the built site (engines that copy static files first)"],
            "url_prefix": ["/assets/videos/", "URL of static_dir as pages see it"],
            "device": ["auto", "torch device"],
            "dtype": ["auto", "torch dtype"],
            "style": ["", "appended to every prompt"],
            "crf": [ENCODER["crf"], "H.264 quality"],
            "ai_label": [True, "show the AI-generated label"],
            "frames": [121, ""],
            "fps": [24, ""],
            "size": ["1280x704", ""],
            "steps": [50, ""],
            "guidance": [5.0, ""],
            "seed": [None, ""],
            "negative_prompt": ["", ""],
        }
        super().__init__(**kwargs)

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        source = _KeepSource(md)
        md.preprocessors.register(source, "mkdocs_wan_source", 200)  # before anything rewrites lines
        md.postprocessors.register(_Embed(md, self, source), "mkdocs_wan", 5)  # after raw HTML is restored


class _KeepSource(Preprocessor):
    """Remember the page's Markdown, to recover directive line numbers later."""

    text = ""

    def run(self, lines: list[str]) -> list[str]:
        self.text = "\n".join(lines)
        return lines


class _Embed(Postprocessor):
    def __init__(self, md: markdown.Markdown, ext: WanExtension, source: _KeepSource) -> None:
        super().__init__(md)
        self.ext = ext
        self.source = source

    def run(self, text: str) -> str:
        directives = find_directives(text, self.source.text)
        if not directives:
            return text
        opt = self.ext.getConfigs()
        try:
            defaults = {name: parse(opt[name]) if opt[name] is not None else None for name, parse in FIELDS.items()}
            crf = parse_crf(opt["crf"])
        except SpecError as err:
            raise ValueError(f"mkdocs_wan.extension: {err}") from None
        docs_dir = Path(opt["docs_dir"])
        root = Path(opt["cache_dir"]).resolve()
        cache = _CACHES.get(root) or _CACHES.setdefault(root, ClipCache(root))
        model = ModelRef.resolve(opt["model"], Path.cwd(), opt["revision"] or None)
        fingerprint = f"{model.fingerprint()}|dtype={opt['dtype']}"
        out, end, todo = [], 0, {}
        for directive in directives:
            out.append(text[end : directive.start])
            end = directive.end
            where = f"line {directive.line}"
            try:
                options = parse_options(directive)
                image = resolve_image(options["image"], "index.md", docs_dir) if "image" in options else None
                plan = plan_clip(options, defaults, opt["style"], fingerprint, image, crf)
                show = presentation_of(options)
            except (DirectiveError, SpecError) as err:
                log.warning("%s: %s", where, err)
                out.append(error_html(where, str(err)))
                continue
            if not cache.has(plan.key):
                todo[plan.key] = plan
            name = f"{opt['url_prefix']}{plan.key}"
            provenance = {"prompt": plan.title, "model": model.name, "seed": str(plan.display.seed)}
            out.append(
                video_html(f"{name}.mp4", f"{name}.jpg", plan.display, plan.frames, plan.title, plan.key, show,
                           provenance, bool(opt["ai_label"]))
            )  # fmt: skip
        out.append(text[end:])
        html = "".join(out)
        if todo:
            html = self._generate(todo, cache, model, opt, html)
        for key in set(_keys(html)):
            _publish(cache, key, docs_dir / opt["static_dir"])
            if opt["site_dir"]:  # Zensical collects static files before rendering pages
                _publish(cache, key, Path(opt["site_dir"]) / opt["static_dir"])
        return html

    def _generate(self, todo: dict[str, Any], cache: ClipCache, model: ModelRef, opt: dict[str, Any], html: str) -> str:
        settings = (model, cache.root, opt["device"], opt["dtype"])
        generator = _GENERATORS.get(settings) or _GENERATORS.setdefault(settings, WanGenerator(*settings))
        try:
            _made, failures = generate_missing(todo, cache, generator, {"model": model.name})
        except (ModelLoadError, CacheError) as err:
            raise RuntimeError(str(err)) from None
        for key, err in failures.items():
            log.warning("generation failed: %s", err)
            start = html.index(f'<figure class="wan-video" data-wan-key="{key}"')
            stop = html.index("</figure>", start) + len("</figure>")
            html = html[:start] + error_html(todo[key].title, str(err)) + html[stop:]
        return html


def _keys(html: str) -> list[str]:
    return re.findall(r'<figure class="wan-video" data-wan-key="(\w+)"', html)


def _publish(cache: ClipCache, key: str, static: Path) -> None:
    """Place the clip and its poster in the engine's static folder, only if missing."""
    cache.ensure_poster(key)
    static.mkdir(parents=True, exist_ok=True)
    for source in (cache.path(key), cache.poster_path(key)):
        target = static / source.name
        if target.exists():
            continue
        with contextlib.suppress(OSError):
            os.link(source, target)
            continue
        shutil.copyfile(source, target)


def makeExtension(**kwargs: Any) -> WanExtension:
    return WanExtension(**kwargs)
