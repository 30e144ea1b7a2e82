"""Where a directive stands, said in messages: `page.md:LINE`, its line in a page or a fence, and
the ids of its AI labels. Page names and messages are the writer's text: escaped for one line.
"""

from __future__ import annotations

import re

from mkdocs_wan.logs import quoted


def label_id(key: str, taken: set[str], prefix: str = "wan-ai-") -> str:
    """A page-unique id for a clip's AI label (the same clip may appear twice on a page)."""
    base = f"{prefix}{key[:12]}"
    label = base
    while label in taken:
        label = f"{base}-{len(taken)}"
    taken.add(label)
    return label


def key_offset(yaml_text: str, option: str | None) -> int:
    """How many lines below its fence line a fenced block's `option:` key stands (0: not found)."""
    if not option:
        return 0
    key = re.compile(rf"^[\s-]*{re.escape(option)}\s*:")
    for number, line in enumerate(yaml_text.splitlines(), start=1):
        if key.match(line):
            return number
    return 0


class Lines:
    """Source lines of texts found in page order: each search starts where the last one was
    found and its newlines are counted once, so thousands of near misses on a page cost one pass
    (and a text that appears twice gets each of its lines, not the first one twice)."""

    def __init__(self, markdown: str) -> None:
        self.markdown, self.at, self.line, self.next = markdown, 0, 1, 0

    def line_of(self, text: str) -> int:
        """The line of the next place `text` appears (1 if it cannot be found)."""
        found = self.markdown.find(text, self.next)
        if found < 0:  # out of order: count from the start, and keep the cursor
            found = self.markdown.find(text)
            return self.markdown.count("\n", 0, found) + 1 if found >= 0 else 1
        self.line += self.markdown.count("\n", self.at, found)
        self.at, self.next = found, found + 1
        return self.line


def where_of(page: str, line: int) -> str:
    """`page.md:LINE`, or `line LINE` where the front end cannot say which page it renders."""
    # A page's file name is the writer's text too: one line, control and bidi characters escaped.
    return f"{quoted(page, 300)}:{line}" if page else f"line {line}"


def printable(text: str) -> str:
    """A message that any log, terminal and UTF-8 page can hold (no NUL, no lone surrogate)."""
    return "".join("\ufffd" if char == "\0" or "\ud800" <= char <= "\udfff" else char for char in text)
