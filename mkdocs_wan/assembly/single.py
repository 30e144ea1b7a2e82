"""One directive outside a page render: its plan, key and state, as a build would see them.

The local service (and any client that is not rendering a page) sends a directive's text, or its
options, with the page it stands on. It goes through exactly the page engine's planning
(templates, policy, limits, family rules), so the key is the one `mkdocs build` computes and a bad
directive is refused with the message the build prints, prefixed `page.md:LINE`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.assembly.places import key_offset, where_of
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.page.directives import Directive, DirectiveError, parse_options
from mkdocs_wan.page.spec import SpecError

State = Literal["succeeded", "held", "rejected", "missing"]

_COMMENT = re.compile(r"\s*<!--\s*@video-gen(?=\s|-->)(?P<body>(?:(?!<!--|-->).)*)-->\s*", re.DOTALL)
_FENCE = re.compile(
    r"\s*(?P<fence>`{3,}|~{3,})[ \t]*\{?[ \t]*\.?video-gen\b[^\n]*\n(?P<body>.*?)\n?[ \t]*(?P=fence)[ \t]*\s*",
    re.DOTALL,
)


class Refused(ValueError):
    """A directive the build would refuse; the message names `page.md:LINE` like the build's."""


def read_directive(text: str, line: int = 1) -> Directive:
    """The one directive `text` holds: a `<!-- @video-gen … -->` comment or a video-gen fence."""
    if (match := _COMMENT.fullmatch(text)) is not None:
        return Directive("comment", match["body"], 0, len(text), line)
    if (match := _FENCE.fullmatch(text)) is not None:
        return Directive("fence", match["body"], 0, len(text), line)
    raise DirectiveError("send one directive: a `<!-- @video-gen … -->` comment or a ```video-gen fence")


def plan_directive(
    engine: PageEngine,
    page: str,
    directive: str | None = None,
    options: Mapping[str, Any] | None = None,
    line: int = 1,
    preview: bool = False,
) -> Plan:
    """The plan of `directive` (or of its `options`) on `page`, or `Refused` with the build's line."""
    where = where_of(page, line)
    settings = engine.preview_settings if preview else engine.settings
    if settings is None:
        raise Refused(f"{where}: no preview model: set `preview_model:` in mkdocs.yml, or ask for the final clip")
    try:
        if options is not None:
            kind, raw = "fence", dict(options)  # the fenced form's options, as YAML would give them
            parsed = Directive("fence", "", 0, 0, line)
        else:
            parsed = read_directive(directive or "", line)
            kind, raw = parsed.kind, parse_options(parsed)
        if "data" in raw:
            raise SpecError("a batch (`data:`) is made by building its page; send one of its rows as `options`")
        return engine._plan(raw, kind, page, settings)
    except DirectiveError as err:
        raise Refused(f"{where_of(page, line + err.line_offset)}: {err}") from None
    except SpecError as err:
        offset = key_offset(parsed.text, err.option) if parsed.kind == "fence" and parsed.text else 0
        raise Refused(f"{where_of(page, line + offset)}: {err}") from None


def state_of(engine: PageEngine, plan: Plan) -> tuple[State, str | None]:
    """Whether the plan's clip is in the cache and publishable; the gate's reason when it is not."""
    if not engine.cache.has(plan.key):
        return "missing", None
    why = engine.gate.verdict(plan)
    if why is None:
        return "succeeded", None
    return ("rejected" if why.startswith("rejected") else "held"), why
