"""A clip is block content (a `<figure>`, a note's `<div>`): where its directive stands inside a
paragraph — a comment in running text, in a footnote, in a list item's text — the paragraph is
closed before the clip and opened again after it, so the page stays valid HTML and nothing else
moves (a footnote's ↩ link stays in its footnote after an HTML minifier re-parses the page). A
side left empty by that is not written: no `<p></p>` appears.
"""

from __future__ import annotations

import bisect
import re

_TAG = re.compile(r"<(/?)p(?=[\s>])[^>]*>", re.IGNORECASE)
_OPENED = re.compile(r"<p(?:\s[^>]*)?>\s*\Z", re.IGNORECASE)  # a paragraph opened with nothing in it yet
_CLOSES = re.compile(r"\s*</p>", re.IGNORECASE)


class Paragraphs:
    """Which positions of a rendered page lie inside a `<p>` (one pass over the page, then a
    binary search per directive: linear in the page, however many directives it has)."""

    def __init__(self, html: str) -> None:
        self.at: list[int] = []
        self.opens: list[bool] = []
        if "<p" in html or "<P" in html:
            for match in _TAG.finditer(html):
                self.at.append(match.start())
                self.opens.append(not match[1])

    def inside(self, position: int) -> bool:
        before = bisect.bisect_left(self.at, position)
        return before > 0 and self.opens[before - 1]


def around(before: str, html: str, end: int, clip: str) -> tuple[str, str, int]:
    """`clip` made to stand outside the paragraph it was found in: (the page text before it, the
    clip with the paragraph closed and reopened around it, where the page resumes)."""
    opened = _OPENED.search(before)
    if opened is not None:  # nothing of the paragraph before the clip: it starts after it
        before = before[: opened.start()]
    else:
        clip = "</p>" + clip
    closes = _CLOSES.match(html, end)
    if closes is not None:  # nothing of the paragraph after it: it ends before it
        return before, clip, closes.end()
    return before, clip + "<p>", end
