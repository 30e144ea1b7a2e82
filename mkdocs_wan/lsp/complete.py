"""Completion inside a comment directive's `{…}`: option names, the fields of the template it names,
and after `name=` the values this site allows (its templates, its family's sizes, its pictures)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from lsprotocol import types as t

from mkdocs_wan.page.spec import KNOWN_OPTIONS
from mkdocs_wan.settings.options import OPTIONS

if TYPE_CHECKING:
    from mkdocs_wan.lsp.analysis import Site

_VALUE = re.compile(r"(\w+)=([^\s}]*)$")
_TEMPLATE = re.compile(r"\btemplate=([A-Za-z0-9][A-Za-z0-9_-]*)")
MAX_PICTURES = 500  # a docs_dir of photos must not make every keystroke list thousands of files


def complete(line: str, site: Site | None, page: str) -> t.CompletionList:
    """The items for the text of `line` before the cursor (empty outside a directive's options)."""
    items: list[t.CompletionItem] = []
    start = line.find("@video-gen")
    if start >= 0 and "{" in line[start:]:
        value = _VALUE.search(line)
        if value is not None:
            kind = t.CompletionItemKind.Value
            items = [t.CompletionItem(label=v, kind=kind) for v in values(site, page, value[1])]
        else:
            items = [_option(name, _help(name)) for name in sorted(KNOWN_OPTIONS - {"prompt", "segments", "data"})]
            items += [_option(name, f"field of template {used}") for used, name in _fields(site, line)]
    return t.CompletionList(is_incomplete=False, items=items)


def values(site: Site | None, page: str, option: str) -> list[str]:
    """The values worth offering for `option` on this site: its templates, the model family's
    size (and its portrait form), the pictures inside docs_dir (relative to the page)."""
    if site is None:
        return []
    settings = site.engine.settings
    if option == "template":
        return sorted(settings["templates"] or {})
    if option == "size":
        width, height = settings.family.size
        return [f"{width}x{height}", f"{height}x{width}"]
    if option == "image":
        folder = (site.docs_dir / page).parent
        pictures = []
        for path in site.docs_dir.rglob("*"):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
                pictures.append(os.path.relpath(path, folder))
                if len(pictures) >= MAX_PICTURES:
                    break
        return sorted(pictures)
    if option in ("autoplay", "loop", "controls"):
        return ["true", "false"]
    return []


def _fields(site: Site | None, line: str) -> list[tuple[str, str]]:
    """(template, field) for the template this directive names, if the site has it."""
    used = _TEMPLATE.search(line)
    templates = (site.engine.settings["templates"] or {}) if site is not None else {}
    template = templates.get(used[1]) if used is not None else None
    return [(template.name, name) for name in template.fields] if template is not None else []


def _option(name: str, detail: str | None) -> t.CompletionItem:
    return t.CompletionItem(label=name, kind=t.CompletionItemKind.Property, detail=detail, insert_text=f"{name}=")


def _help(name: str) -> str | None:
    option = OPTIONS.get(name)
    return option.help if option is not None else None
