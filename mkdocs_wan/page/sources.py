"""A page's source as its writer sees it in an editor, so that `page.md:LINE` names a real line.

MkDocs strips front matter (and the blank lines after it) from `page.markdown`, and a directive
pulled in by a `pymdownx.snippets` include (`--8<-- "file.md"`) is not in the page's source at
all; both would make a warning point at the wrong line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

MAX_INCLUDED_BYTES = 1 << 20  # a snippet bigger than this is not searched for directive lines
_INLINE = re.compile(r"""^[ \t>]*-{1,}8<-{1,}[ \t]+(["'])(?P<name>[^"'\n]+)\1[ \t]*$""", re.MULTILINE)
_BLOCK = re.compile(r"^[ \t>]*-{1,}8<-{1,}[ \t]*\n(?P<names>(?:.*\n)*?)[ \t>]*-{1,}8<-{1,}[ \t]*$", re.MULTILINE)


def editor_view(markdown: str, stripped_lines: int) -> str:
    """`markdown` with the `stripped_lines` lines MkDocs removed from the top of the file put
    back as blank lines: line N of the result is line N of the file."""
    return "\n" * max(stripped_lines, 0) + markdown


def included_files(markdown: str, base_paths: Iterable[Path], docs_dir: Path) -> dict[str, str]:
    """The files a page includes with pymdownx.snippets ({path as found: text}), one level deep.

    Names are resolved like snippets does (against each base path in turn); a line range
    (`file.md:3:5`) or a section (`file.md:name`) suffix is ignored, as are URLs, unreadable,
    non-UTF-8 and oversized files — they only cost a less precise line. A file inside
    `docs_dir` is named like a page (relative to it), any other as found.
    """
    names = [m["name"] for m in _INLINE.finditer(markdown)]
    for block in _BLOCK.finditer(markdown):
        names += [line.strip() for line in block["names"].splitlines() if line.strip()]
    found: dict[str, str] = {}
    bases = list(base_paths)
    for name in dict.fromkeys(names):
        if "://" in name or name.startswith(";"):
            continue
        path_part = re.sub(r"(:-?\d*)*(:[\w-]+)?$", "", name) or name
        for base in bases:
            candidate = base / path_part
            try:
                if candidate.is_file() and candidate.stat().st_size <= MAX_INCLUDED_BYTES:
                    resolved = candidate.resolve()
                    name = resolved.relative_to(docs_dir) if resolved.is_relative_to(docs_dir) else candidate
                    found[name.as_posix()] = candidate.read_text(encoding="utf-8")
                    break
            except (OSError, UnicodeDecodeError, ValueError):
                continue
    return found
