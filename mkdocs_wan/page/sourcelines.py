"""Where each rendered directive stands in its source: `page.md:LINE` for every message.

The HTML a page renders to has no line numbers, so the directives found there are matched in
order against the directive-looking spots of the page's Markdown (and of the files it includes);
what no source holds came from a plugin that writes Markdown of its own: a docstring that
mkdocstrings renders where `::: object` stands, or a mkdocs-macros `{{ … }}`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping

from mkdocs_wan.page.unclosed import indented_code, never_closed

_RAW_COMMENT = re.compile(r"<!--\s*@video-gen(?=\s|-->)((?:(?!<!--).)*?)-->", re.DOTALL)
#: Where a plugin writes Markdown of its own: mkdocstrings' `::: object`, a Jinja `{{ … }}` or `{% … %}`.
_GENERATED = re.compile(r"^[ \t>]*(?:#{1,6}[ \t]*)?::: *([\w.:-]+)|\{\{|\{%", re.MULTILINE)
_OPENER = re.compile(r"<!--\s*@video-gen")
_ID = re.compile(r'\bid="([^"<>]*)"')
_VIDEO_GEN_INFO = re.compile(r"[ \t]*\{?[ \t]*\.?video-gen\b")  # a fence line's info: ```video-gen, ``` {.video-gen}
_QUOTE_INDENT = re.compile(r"^[ \t>]*")
_FENCE_MARK = re.compile(r"```|~~~")
_NEAR_INFO = re.compile(r"[ \t]*\{?[ \t]*\.?(video[\w-]*gen[\w-]*)", re.IGNORECASE)  # ```video_gen, ```Videogen
_FENCE_LINE = re.compile(r"^[ \t>]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$", re.MULTILINE)


def match_key(kind: str, text: str) -> str:
    """What a rendered directive and its source have in common, whitespace-insensitively."""
    if kind == "comment":
        return " ".join(text.split())
    first = next((line for line in text.splitlines() if line.strip()), "")
    return " ".join(first.split())


def source_lines(
    found: list[tuple[str, str, int]], markdown: str, included: Mapping[str, str], html: str = ""
) -> list[tuple[str, int]]:
    """Match rendered directives ((kind, key, place in `html`), in order) against raw-source
    candidates to recover (file, line).

    The raw scan also sees directives shown inside code, which did not render; candidates that
    look like code (inside a fence, or after an odd number of backticks on their line) are
    tried last, so a syntax example followed by the same live directive reports the live line.
    A directive the page's source lacks is looked up in the `included` files (file "" is the
    page), then taken for a docstring's (the `::: object` whose output it stands in, else the
    `:::` line before the next live directive); if the text can't be matched anywhere, the next
    same-kind candidate is used.
    """
    candidates = _candidates(markdown)
    # Each question below is a binary search, not a walk to the end: a page whose HTML has
    # thousands of directives its source lacks (a macro's, a docstring's) is read in n log n.
    places: dict[tuple[str, str | None, bool], list[int]] = {}  # (kind, key or any, code too): indexes
    for i, (_, c_kind, c_key, in_code) in enumerate(candidates):
        for key, allow_code in ((c_key, True), (None, True), (c_key, False), (None, False)):
            if allow_code or not in_code:
                places.setdefault((c_kind, key, allow_code), []).append(i)
    origins: dict[tuple[str, str], tuple[str, int]] = {}  # the first included file holding each
    for name, text in included.items():
        for line, c_kind, c_key, _ in _candidates(text):
            origins.setdefault((c_kind, c_key), (name, line))
    autodoc: list[int] = []  # lines whose output a plugin writes: `::: object`, `{{ macro() }}`
    blocks: dict[int, str] = {}  # of which `:::` lines, with the object each names
    if ":::" in markdown or "{{" in markdown or "{%" in markdown:
        code = code_lines(markdown) | indented_code(markdown)  # an example of a `:::` line is no block
        generated, line, counted = [], 1, 0  # newlines counted once, from one match to the next
        for m in _GENERATED.finditer(markdown):
            line += markdown.count("\n", counted, m.start())
            counted = m.start()
            generated.append((line, m[1]))
        autodoc = sorted({line for line, _ in generated if line not in code})
        blocks = {line: name for line, name in generated if name and line not in code}
    rendered: list[Callable[[int], int | None]] = []  # found on the first question: most pages ask none

    def docstring(cursor: int, at: int) -> int | None:
        """The line a directive no source has came from (a `:::` docstring, a macro's output):
        after the last one placed, before the next directive the page itself has."""
        after = lines[-1][1] if lines and lines[-1][0] == "" else 0
        before = candidates[cursor][0] if cursor < len(candidates) else len(markdown) + 1
        if blocks and html and not rendered:
            rendered.append(_rendered_blocks(html, blocks))
        block = rendered[0](at) if rendered else None
        if block is not None and after <= block < before:
            return block  # the `:::` whose output it stands in
        # A docstring can hold several directives (its `:::` line again); a macro call is taken to write one.
        if after in blocks:
            return after
        later = bisect.bisect_right(autodoc, after)
        return autodoc[later] if later < len(autodoc) and autodoc[later] < before else None

    def pick(cursor: int, kind: str, key: str | None, allow_code: bool) -> int | None:
        """The first candidate from `cursor` on of this kind (and key, unless None)."""
        found = places.get((kind, key, allow_code), [])
        at = bisect.bisect_left(found, cursor)
        return found[at] if at < len(found) else None

    lines: list[tuple[str, int]] = []
    cursor = 0
    for kind, key, at in found:
        index = pick(cursor, kind, key, False)
        if index is None:  # not live in the page: an included file's, or shown in the page's code
            origin = origins.get((kind, key))
            if origin is not None:
                lines.append(origin)
                continue
            templated = pick(cursor, kind, None, False) if autodoc else None
            if templated is not None and ("{{" in candidates[templated][2] or "{%" in candidates[templated][2]):
                index = templated  # its text is a template (mkdocs-macros) the page renders otherwise
            block = docstring(cursor, at) if autodoc and index is None else None
            if block is not None:
                lines.append(("", block))
                continue
            index = index if index is not None else pick(cursor, kind, key, True)
        if index is None:
            index = pick(cursor, kind, None, True)
        if index is None:
            lines.append(lines[-1] if lines else ("", 1))
        else:
            lines.append(("", candidates[index][0]))
            cursor = index + 1
    return lines


def _rendered_blocks(html: str, blocks: Mapping[int, str]) -> Callable[[int], int | None]:
    """Which `::: object` line's output a place in `html` stands in. mkdocstrings marks where each
    block's object begins with its path as an id (`<a id="pkg.mod">` or its heading's), and its
    members carry ids below it, so a block's start is the last `id="path"` before the next
    block's start (found from the last block back). A block whose id is not there (another
    handler) is left to the line order."""
    ids: dict[str, list[int]] = {}  # every id on the page, found once: linear however many blocks
    for match in _ID.finditer(html):
        ids.setdefault(match[1], []).append(match.start())
    found: list[tuple[int, int]] = []  # (start in html, line)
    limit = len(html) + 1
    for line, name in sorted(blocks.items(), reverse=True):
        places = ids.get(name, [])
        before = bisect.bisect_left(places, limit)
        if before:
            limit = places[before - 1]
            found.append((limit, line))
    found.reverse()
    starts = [at for at, _ in found]

    def block_of(at: int) -> int | None:
        index = bisect.bisect_right(starts, at)
        return found[index - 1][1] if index else None

    return block_of


def _candidates(markdown: str) -> list[tuple[int, str, str, bool]]:
    """Every directive-looking spot in a Markdown source: (line, kind, key, looks like code)."""
    code = code_lines(markdown)
    candidates: list[tuple[int, str, str, bool]] = []
    line, counted = 1, 0  # newlines are counted once, from one match to the next: linear in the page
    ticks, ticked = 0, 0  # and so are the backticks before each match on its line
    for m in _RAW_COMMENT.finditer(markdown):
        new_lines = markdown.count("\n", counted, m.start())
        line += new_lines
        counted = m.start()
        if new_lines:  # a new line: its backticks from its start
            ticked = markdown.rfind("\n", 0, m.start()) + 1
            ticks = 0
        ticks += markdown.count("`", ticked, m.start())
        ticked = m.start()
        in_code = line in code or ticks % 2 == 1
        candidates.append((line, "comment", match_key("comment", m[1]), in_code))
    for start, stop, line in never_closed(markdown):  # closed for the reader where its paragraph ends
        opener = _OPENER.match(markdown, start)
        body = markdown[opener.end() if opener else start : stop]
        candidates.append((line, "comment", match_key("comment", body), False))
    rows: list[str] = []
    line, counted = 1, 0
    for m in _fence_lines(markdown):
        line += markdown.count("\n", counted, m.start())
        counted = m.start()
        if not _VIDEO_GEN_INFO.match(m["info"]):
            continue
        rows = rows or markdown.split("\n")
        body = (_QUOTE_INDENT.sub("", rows[i]) for i in range(line, len(rows)))  # no skipping from the top
        key = " ".join(next((s for s in body if s.strip()), "").split())
        candidates.append((line, "fence", key, line in code))
    candidates.sort()
    return candidates


def misspelt_fences(markdown: str) -> list[tuple[int, str]]:
    """(line, name) of each fence in the source named almost like the fenced form (`video_gen`,
    `videogen`, `Video-Gen`). SuperFences (and so every Material site) renders such a block as
    plain code and drops its name, so only the source shows the mistake. An example inside other
    code is documentation, not a mistake."""
    found: list[tuple[int, str]] = []
    code: set[int] | None = None
    line, counted = 1, 0
    for m in _fence_lines(markdown):
        line += markdown.count("\n", counted, m.start())
        counted = m.start()
        near = _NEAR_INFO.match(m["info"])
        if near is None or near[1] == "video-gen":
            continue
        code = code_lines(markdown) | indented_code(markdown) if code is None else code
        if line not in code:
            found.append((line, near[1]))
    return found


def code_lines(markdown: str) -> set[int]:
    """1-based lines strictly inside fenced code blocks (backtick or tilde, any nesting depth).
    Only fence lines are visited, their newlines counted once: no Python loop over every line."""
    inside: set[int] = set()
    fence: str | None = None
    opened = 0
    line, counted = 1, 0
    for match in _fence_lines(markdown):
        line += markdown.count("\n", counted, match.start())
        counted = match.start()
        if fence is None:
            fence, opened = match["fence"], line
        elif match["fence"].startswith(fence) and not match["info"].strip():
            inside.update(range(opened + 1, line))
            fence = None
    if fence is not None:  # never closed: code to the end
        inside.update(range(opened + 1, markdown.count("\n") + 2))
    return inside


def _fence_lines(markdown: str) -> Iterator[re.Match[str]]:
    """Each line that opens or closes a fence: found from its three backticks or tildes (a search
    at string speed), then read whole."""
    at = 0
    while (hit := _FENCE_MARK.search(markdown, at)) is not None:
        start = markdown.rfind("\n", 0, hit.start()) + 1
        end = markdown.find("\n", hit.end())
        end = len(markdown) if end < 0 else end
        match = _FENCE_LINE.match(markdown, start, end)
        if match is not None:
            yield match
        at = end + 1
