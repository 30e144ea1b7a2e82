"""A clip is block content (a `<figure>`, a note's `<div>`): where its directive stands inside a
paragraph — a comment in running text, in a footnote, in a list item's text, inside `<em>` or a
link — the paragraph (and every inline element open at that point) is closed before the clip and
opened again after it, with its classes but not its id, so the page stays valid HTML and nothing
else moves (a footnote's ↩ link stays in its footnote after an HTML minifier re-parses the page).
A side left without content is not written: no empty `<p>` appears. A heading holds text only: a
clip in one comes right after it.
"""

from __future__ import annotations

import bisect
import re

# A start tag's attributes, quoted values whole (a `>` in one does not end the tag); an attribute
# starts after whitespace or right after a quoted value (`class="a"id="b"`, which browsers accept).
_ATTRS = r"""(?:(?:\s+|(?<=["']))[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*"""
_P_TAG = re.compile(r"<(/?)p(?=[\s>])[^>]*>", re.IGNORECASE)
_START = re.compile(rf"<[a-zA-Z][a-zA-Z0-9-]*(?:{_ATTRS}\s*|[^>]*?)/?>")
_TAG = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9-]*)\b(?:{_ATTRS}\s*|[^>]*?)(/?)>")
_HEADING = re.compile(r"<(/?)h([1-6])(?=[\s>])[^>]*>", re.IGNORECASE)
_NAME = re.compile(r"<[a-zA-Z][a-zA-Z0-9-]*")
_ATTR = re.compile(r"""((?:\s+|(?<=["'])))([^\s"'>/=]+)(\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?""")
_VOID = frozenset({"br", "img", "wbr", "input", "area", "embed", "source", "track", "hr", "col"})
# What does not count as a paragraph part's content: comments, line breaks and the tags of
# text-level elements (an `<img>`, an `<input>` or an `<svg>` are content, like text).
_NOT_CONTENT = re.compile(
    r"<!--.*?-->|</?(?:a|abbr|b|bdi|bdo|br|cite|code|data|del|dfn|em|i|ins|kbd|mark|p|q|s|samp|small|span|strong"
    r"|sub|sup|time|u|var|wbr)(?=[\s/>])(?:" + _ATTRS + r"\s*|[^>]*?)/?>",
    re.IGNORECASE | re.DOTALL,
)
_BLANK = r"(?:\s|<br\s*/?>)*"  # what may stand between a clip and its paragraph's end


_SKIPPED = re.compile(r"<!--|<(script|style|textarea|title)(?=[\s/>])", re.IGNORECASE)
_Skipped = tuple[list[int], list[int]]


def _skipped(html: str) -> _Skipped:
    """The spans (their starts, their ends) whose `<`s a browser does not read as tags: comments
    (a tag written in one, `<!-- @video-gen <P -->`, is text) and raw-text elements (`<textarea>`,
    `<script>`, …). A `<!--` inside a tag (an attribute's value) opens nothing; `<!-->` and
    `<!--->` are empty comments; one never closed runs to the end, as in a browser. One pass: each
    backward search stops at the span or tag before."""
    starts: list[int] = []
    ends: list[int] = []
    at = 0
    while (found := _SKIPPED.search(html, at)) is not None:
        start = found.start()
        if html.rfind("<", 0, start) > html.rfind(">", 0, start):  # inside a tag: go on after it
            end = html.find(">", start)
            at = len(html) if end < 0 else end + 1
            continue
        if found[1] is None:
            if html.startswith(">", start + 4) or html.startswith("->", start + 4):
                end = html.index(">", start + 4) + 1
            else:
                closed = html.find("-->", start + 4)
                end = len(html) if closed < 0 else closed + 3
        else:
            closed = re.compile(rf"</{found[1]}\s*>", re.IGNORECASE).search(html, found.end())
            end = len(html) if closed is None else closed.end()
        starts.append(start)
        ends.append(end)
        at = end
    return starts, ends


def _tags(pattern: re.Pattern[str], html: str, skipped: _Skipped, offset: int = 0) -> list[re.Match[str]]:
    """`pattern`'s matches in `html` (which starts at `offset` of the page) outside the page's
    `skipped` spans."""
    starts, ends = skipped
    found = []
    at = 0
    while (match := pattern.search(html, at)) is not None:
        index = bisect.bisect_right(starts, match.start() + offset)
        if index and ends[index - 1] > match.start() + offset:  # text, not a tag: go on after the span,
            at = ends[index - 1] - offset  # not after the match (a quote left open there can reach past it)
            continue
        found.append(match)
        at = match.end()
    return found


def _again(start_tag: str) -> str:
    """An element's start tag for its part after a clip: its classes and styles go on, its `id`
    stays with the part written first (an id names one element)."""
    name = _NAME.match(start_tag)
    if name is None:
        return start_tag
    attributes = _ATTR.sub(lambda a: "" if a[2].lower() == "id" else a[0], start_tag[name.end() :])
    return start_tag[: name.end()] + attributes


def _empty(html: str) -> bool:
    """Nothing a reader sees: no text and no element but text-level tags, line breaks, comments."""
    return not _NOT_CONTENT.sub("", html).strip()


class Splitter:
    """Takes a page's directives in order and writes the page around their clips (one pass over
    the page's `<p>` tags, then a binary search per directive: linear however many there are)."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.at: list[int] = []
        self.opens: list[bool] = []
        self.skipped = _skipped(html)
        if "<p" in html or "<P" in html:
            for match in _tags(_P_TAG, html, self.skipped):
                self.at.append(match.start())
                self.opens.append(not match[1])
        self.reopen, self.reopen_p = "", -1  # a split paragraph's opening, written once it has content
        self.ids_out = -1  # the paragraph whose start tags (ids included) are written already
        self.after: list[tuple[int, str]] = []  # (where a heading ends, a clip its text stood in)
        self.headings: list[tuple[int, int]] | None = None  # (start, end) of each <h1>…</h6>
        self.open_in: tuple[int, int, list[tuple[str, str]]] = (-1, -1, [])  # (paragraph, up to, its open tags)

    def _heading_end(self, position: int) -> int | None:
        """Where the heading that `position` stands in ends (after its `</hN>`), if it does."""
        if self.headings is None:  # found once per page, on the first question: one pass
            self.headings, opened = [], None
            for tag in _tags(_HEADING, self.html, self.skipped):
                if not tag[1]:
                    opened = opened or (tag.start(), tag[2])
                elif opened is not None and opened[1] == tag[2]:
                    self.headings.append((opened[0], tag.end()))
                    opened = None
        inside = bisect.bisect_left(self.headings, (position, 0))
        if inside and self.headings[inside - 1][0] < position < self.headings[inside - 1][1]:
            return self.headings[inside - 1][1]
        return None

    def _with_moved(self, resume: int, upto: int) -> str:
        """The page from `resume` to `upto`, with the clips of headings that end there after them."""
        out, at = [], resume
        while self.after and self.after[0][0] <= upto:
            where, clip = self.after.pop(0)
            out += [self.html[at:where], clip]
            at = where
        return "".join(out) + self.html[at:upto]

    def _paragraph(self, position: int) -> int | None:
        """Where the `<p>` that `position` stands in starts (None: in no paragraph)."""
        before = bisect.bisect_left(self.at, position)
        return self.at[before - 1] if before and self.opens[before - 1] else None

    def _open_tags(self, paragraph: int, inside: int, position: int) -> list[tuple[str, str]]:
        """The inline elements open at `position` in the paragraph whose content starts at
        `inside`: read on from the paragraph's previous directive, so a paragraph of thousands of
        directives is read once, not once per directive."""
        was, upto, stack = self.open_in
        if was != paragraph or upto > position:
            upto, stack = inside, []
        stack = _open_tags(self.html[upto:position], self.skipped, upto, stack)
        self.open_in = (paragraph, position, stack)
        return stack

    def place(self, resume: int, start: int, end: int, clip: str) -> tuple[str, int]:
        """The page from `resume` up to the directive at `start`:`end`, then its `clip`; and where
        the page resumes after it."""
        html, chunk = self.html, self._with_moved(resume, start)
        paragraph = self._paragraph(start)
        closed = False
        if self.reopen:  # the paragraph a clip split goes on here
            closed = paragraph == self.reopen_p and _empty(chunk)  # clip after clip: it stays closed
            if not closed:
                chunk, self.ids_out = self.reopen + chunk, self.reopen_p
            else:
                chunk = ""
            self.reopen = ""
        heading = self._heading_end(start)
        if heading is not None:  # a heading holds text only: its clip comes right after it
            self.after.append((heading, clip))
            return chunk, end
        if paragraph is None:
            return chunk + clip, end
        opening = _START.match(html, paragraph)
        inside = opening.end() if opening else html.index(">", paragraph) + 1
        stack = self._open_tags(paragraph, inside, start)
        if not closed:
            if paragraph >= resume and _empty(html[inside:start]):  # nothing of it before the clip
                chunk = chunk[: len(chunk) - (start - paragraph)]
            else:
                chunk += "".join(f"</{name}>" for name, _ in reversed(stack)) + "</p>"
                self.ids_out = paragraph if paragraph >= resume else self.ids_out
        closers = "".join(rf"</{name}>{_BLANK}" for name, _ in reversed(stack))
        ending = re.compile(_BLANK + closers + "</p>", re.IGNORECASE).match(html, end)
        if ending is not None:  # nothing of it after the clip
            return chunk + clip, ending.end()
        again = _again if self.ids_out == paragraph else str  # an id is written once, wherever first
        self.reopen = again(html[paragraph:inside]) + "".join(again(tag) for _, tag in stack)
        self.reopen_p = paragraph
        return chunk + clip, end

    def rest(self, resume: int) -> str:
        reopen, self.reopen = self.reopen, ""
        return reopen + self._with_moved(resume, len(self.html))


def _open_tags(html: str, skipped: _Skipped, offset: int, open_before: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The inline elements left open at the end of `html` (`open_before` were open at its start),
    outermost first: (name, start tag)."""
    stack = list(open_before)
    for match in _tags(_TAG, html, skipped, offset):
        name = match[2].lower()
        if name in _VOID or match[3]:
            continue
        if not match[1]:
            stack.append((name, match[0]))
        elif any(open_name == name for open_name, _ in stack):
            while stack.pop()[0] != name:
                pass
    return stack
