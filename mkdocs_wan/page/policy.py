"""The site's content policy: words and patterns a prompt may not contain, checked before any model work.

Both the prompt and the policy's words are compared in one normal form — compatibility-decomposed
(full-width letters, ligatures), every combining mark and invisible format character (zero-width
space and joiner, soft hyphen, bidi controls, variation selectors) removed, case-folded,
whitespace collapsed — so a look-alike spelling of a refused word is the word. A word matches
whole (`gore` refuses "gore" and "Gore!", not "gorean"); a pattern `/.../` is a regular
expression searched in the normal form, case-insensitively. Characters of other scripts that
merely look alike (a Cyrillic o for a Latin one) are different letters and are not folded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from mkdocs_wan.page.spec import SpecError

MAX_ENTRIES = 1_000
MAX_ENTRY_CHARS = 200
REFUSED = "refused by the site's content policy"


def normal_form(text: str) -> str:
    """The text as the policy compares it (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    kept = "".join(c for c in kept if not 0xFE00 <= ord(c) <= 0xFE0F and not 0xE0100 <= ord(c) <= 0xE01EF)
    return " ".join(unicodedata.normalize("NFKC", kept.casefold()).split())


@dataclass(frozen=True)
class Policy:
    """The compiled `policy` option: one entry's text as written, and what it matches."""

    entries: tuple[tuple[str, re.Pattern[str]], ...]

    def violation(self, text: str) -> str | None:
        """The policy entry `text` breaks (as the site wrote it), or None."""
        if not self.entries:
            return None
        normal = normal_form(text)
        for written, pattern in self.entries:
            if pattern.search(normal):
                return written
        return None

    def check(self, text: str) -> None:
        """Raise the writer's message if `text` breaks the policy."""
        entry = self.violation(text)
        if entry is not None:
            raise SpecError(f"{REFUSED}: the prompt matches {entry!r}; reword it (no clip was generated)", "prompt")


def parse_policy(value: Any) -> Policy:
    """`policy:` from mkdocs.yml: a word, or a list of words and `/regular expressions/`."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SpecError("policy must be a list of words and /patterns/")
    if len(values) > MAX_ENTRIES:
        raise SpecError(f"policy has {len(values):,} entries, over the limit of {MAX_ENTRIES:,}")
    entries = []
    for written in values:
        if not written.strip() or len(written) > MAX_ENTRY_CHARS:
            raise SpecError(f"each policy entry must be 1 to {MAX_ENTRY_CHARS} characters, got {written[:40]!r}")
        text = written.strip()
        if len(text) > 2 and text.startswith("/") and text.endswith("/"):
            try:
                pattern = re.compile(text[1:-1], re.IGNORECASE)
            except re.error as err:
                raise SpecError(f"policy pattern {text!r} is not a regular expression: {err}") from None
        else:
            word = normal_form(text)
            if not word:
                raise SpecError(f"policy entry {text!r} is empty once normalised")
            pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
        entries.append((text, pattern))
    return Policy(tuple(entries))
