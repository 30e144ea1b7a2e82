"""A directive whose comment is never closed (`<!-- @video-gen A kite` and no `-->`) would hide
the rest of the page up to the next comment's end: headings, text, the next directive. Before
Markdown reads the page, such a comment is closed where its paragraph ends, so readers keep the
rest of the page; the engine knows it by the `MARKER` after it and puts a note where it
stands instead of a clip (a half-typed directive under `mkdocs serve` must not start a clip), and
the build warns at its line. Pages without one are not touched.
"""

from __future__ import annotations

import bisect
import re

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

_OPEN = re.compile(r"<!--\s*@video-gen(?=\s|-->|\Z)")
_BLANK = re.compile(r"\n[ \t]*\n")
_FENCE = re.compile(r"^[ \t>]*(?:`{3,}|~{3,})", re.MULTILINE)  # a code fence: never closed inside one
#: Written just before the `-->` it adds (a private-use character nobody types), so the rendered
#: page itself says which directive was never closed, wherever its Markdown came from (the page, a
#: snippet, a docstring, a macro). Inside the comment, because Python-Markdown moves text that
#: follows a comment on its line.
MARKER = "\ue0ff"
#: Lines whose content is indented as code is (4 spaces), by the block processor that reads them
#: (Python-Markdown's names): list items always; the others where their extension is loaded.
_CONTAINERS = {
    "": r"[-*+]|\d{1,9}\.",
    "admonition": r"!!! ?[\w-]+",  # `!!!note` too, as the extension reads it
    "details": r"\?\?\?\+? ?[\w-]+",
    "tabbed": r"===!?\+?",
    "footnote": r"\[\^[^\]\n]+\]:",
    "deflist": r":",
}
ALL_CONTAINERS = tuple(_CONTAINERS)
_QUOTES = re.compile(r"(?:[ \t]{0,3}>[ ]?)+")  # a blockquote's `>`s at a line's start: its lines are read without them
_PRIORITY = 27  # before fenced_code (25) and the raw-HTML block reader (20) swallow the rest
PROBLEM = "this directive's comment is never closed, so it would hide the rest of the page: end it with -->"


def never_closed(text: str, containers: tuple[str, ...] = ALL_CONTAINERS) -> list[tuple[int, int, int]]:
    """(start, end, line) of every directive comment in `text` that no `-->` closes before the next
    `<!--` or the end, outside code; `end` is where its paragraph ends (where it gets closed).
    `containers` names the block processors loaded (see `_CONTAINERS`), which tell an indented
    line's content from code. Every marker is found once and looked up by bisection: linear in
    the page, however many; a page whose openers are all closed only searches for their ends."""
    if "@video-gen" not in text:
        return []
    from mkdocs_wan.page.sourcelines import code_lines

    marks: dict[str, list[int]] = {}  # every marker's places, found at the first unclosed opener

    def marked(kind: str) -> list[int]:
        if not marks:
            marks["blanks"] = [m.start() for m in _BLANK.finditer(text)]
            marks["paragraphs"] = [m.end() for m in _BLANK.finditer(text)]  # where paragraphs 2, 3, … start
            marks["fences"] = [m.start() for m in _FENCE.finditer(text)]
            marks["ticks"] = [m.start() for m in re.finditer("`", text)]
        return marks[kind]

    def after(kind: str, at: int) -> int:
        points = marked(kind)
        index = bisect.bisect_left(points, at)
        return points[index] if index < len(points) else len(text)

    code: set[int] | None = None
    examples: set[int] | None = None  # indented code blocks
    found: list[tuple[int, int, int]] = []
    line, counted, line_start = 1, 0, 0
    for match in _OPEN.finditer(text):
        # Closed if a `-->` comes before the next `<!--`. Each search stops at the next opener at
        # the latest, so however many openers a page has, they add up to one pass over it.
        reopens = text.find("<!--", match.end())
        reopens = len(text) if reopens < 0 else reopens
        if text.find("-->", match.end(), reopens) >= 0:
            continue
        newline = text.rfind("\n", counted, match.start())  # searched back to the last opener only
        line += text.count("\n", counted, match.start())
        line_start = line_start if newline < 0 else newline + 1
        counted = match.start()
        code = code_lines(text) if code is None else code
        quoted = _QUOTES.match(text, line_start, match.start())
        indent = quoted.end() if quoted else line_start  # 4 characters say whether it is indented 4
        if text[indent : min(indent + 4, match.start())].expandtabs(4).startswith("    "):
            examples = indented_code(text, containers) if examples is None else examples
        paragraphs, ticks = marked("paragraphs"), marked("ticks")
        starts = bisect.bisect_right(paragraphs, match.start())
        paragraph = paragraphs[starts - 1] if starts else 0  # a code span can run over lines of it
        in_span = (bisect.bisect_left(ticks, match.start()) - bisect.bisect_left(ticks, paragraph)) % 2
        if line in code or line in (examples or ()) or in_span:
            continue  # shown as code: an example, not a directive
        stop = min(reopens, after("blanks", match.end()), after("fences", match.end()))
        while stop > match.end() and text[stop - 1].isspace():
            stop -= 1
        found.append((match.start(), stop, line))
    return found


def indented_code(text: str, containers: tuple[str, ...] = ALL_CONTAINERS) -> set[int]:
    """The 1-based lines indented 4 or more that are an indented code block (an example, left
    alone), in one pass. Only a line under a container (a list item, an admonition, … of the
    `containers` loaded) is its content, up to 7 spaces deeper than the container's own line;
    deeper, or under anything else (a paragraph, a heading), it is code, as it always was."""
    opener = re.compile(rf"[ \t]*(?:{'|'.join(_CONTAINERS[name] for name in containers)})(?:[ \t]|$)")
    code: set[int] = set()
    inside: int | None = None  # the indent of the container whose content the lines are
    for number, row in enumerate(text.split("\n"), start=1):
        quoted = _QUOTES.match(row)
        row = row[quoted.end() :] if quoted else row
        if not row.strip():
            continue
        indent = len(row.expandtabs(4)) - len(row.expandtabs(4).lstrip())
        if indent < 4:
            inside = 0 if opener.match(row) else None
        elif inside is None or indent >= inside + 8:
            code.add(number)  # code: it opens nothing
        elif opener.match(row):
            inside = indent
    return code


class _CloseComments(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        names = {processor.name for processor in self.md.parser.blockprocessors._priority}
        spans = never_closed(text, tuple(name for name in _CONTAINERS if not name or name in names))
        if not spans:
            return lines
        out, end = [], 0
        for _start, stop, _line in spans:
            out += [text[end:stop], f"{MARKER} -->"]
            end = stop
        out.append(text[end:])
        return "".join(out).split("\n")


class CloseCommentsExtension(Extension):
    """Closes never-closed directive comments (see the module's docstring)."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_CloseComments(md), "mkdocs_wan_close", _PRIORITY)


def makeExtension(**kwargs: object) -> CloseCommentsExtension:  # Python-Markdown looks for this name
    """`markdown_extensions: [mkdocs_wan.page.unclosed]` loads it on its own."""
    return CloseCommentsExtension(**kwargs)
