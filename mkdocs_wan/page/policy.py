"""The site's content policy: words and patterns a prompt may not contain, checked before any model work.

Both the prompt and the policy's words are compared in one normal form — compatibility-decomposed
(full-width letters, ligatures), every combining mark and invisible format character (zero-width
space and joiner, soft hyphen, bidi controls, variation selectors) removed, case-folded,
whitespace collapsed — so a look-alike spelling of a refused word is the word. A word matches
whole (`gore` refuses "gore" and "Gore!", not "gorean"); a pattern `/.../` is a regular
expression searched in the normal form, case-insensitively, with a time limit (the `regex`
module's: a pattern that backtracks without end on some prompt is an error naming it, not a
hung build). Latin look-alikes that compatibility forms miss — small capitals, IPA letters — are
folded too, and invisible fillers (Hangul, braille blank) dropped. Characters of other scripts
that merely look alike (a Cyrillic o for a Latin one) are different letters and are not folded.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from mkdocs_wan.logs import quoted
from mkdocs_wan.page.spec import SpecError

MAX_ENTRIES = 1_000
PATTERN_SECONDS = 0.5  # one pattern on one prompt (prompts are at most 2,000 characters)
MAX_ENTRY_CHARS = 200
REFUSED = "refused by the site's content policy"


#: Latin letters NFKC leaves alone that read as another: small capitals and IPA shapes.
_LATIN_LOOKALIKES = str.maketrans(
    "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɡɑɩʋ",
    "abcdefghijklmnoprstuvwyzgaiv",
)
#: Letters that show as nothing: Hangul fillers and the braille blank (not format characters).
_FILLERS = dict.fromkeys(map(ord, "\u115f\u1160\u3164\uffa0\u2800"))


def normal_form(text: str) -> str:
    """The text as the policy compares it (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text).translate(_FILLERS)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    kept = "".join(c for c in kept if not 0xFE00 <= ord(c) <= 0xFE0F and not 0xE0100 <= ord(c) <= 0xE01EF)
    return " ".join(unicodedata.normalize("NFKC", kept.casefold().translate(_LATIN_LOOKALIKES)).split())


@dataclass(frozen=True)
class Policy:
    """The compiled `policy` option: one entry's text as written, and what it matches."""

    entries: tuple[tuple[str, Any], ...]  # (the entry as written, its compiled `regex` pattern)

    def violation(self, text: str) -> str | None:
        """The policy entry `text` breaks (as the site wrote it), or None."""
        if not self.entries:
            return None
        normal = normal_form(text)
        for written, pattern in self.entries:
            try:
                if pattern.search(normal, timeout=PATTERN_SECONDS):
                    return written
            except TimeoutError:
                raise SpecError(
                    f"policy pattern {quoted(written)} took over {PATTERN_SECONDS} s on this text and was stopped; "
                    "simplify it (nested repeats such as (a+)+ backtrack without end)"
                ) from None
        return None

    def check(self, text: str, what: str = "prompt") -> None:
        """Raise the writer's message if `text` (the prompt, a caption, alt text) breaks the policy."""
        entry = self.violation(text)
        if entry is not None:
            raise SpecError(f"{REFUSED}: the {what} matches '{quoted(entry)}'; reword it (no clip was generated)", what)


def parse_policy(value: Any) -> Policy:
    """`policy:` from mkdocs.yml: a word, or a list of words and `/regular expressions/`."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SpecError("policy must be a list of words and /patterns/")
    if len(values) > MAX_ENTRIES:
        raise SpecError(f"policy has {len(values):,} entries, over the limit of {MAX_ENTRIES:,}")
    import regex  # only for a site with a policy

    entries = []
    for written in values:
        if not written.strip() or len(written) > MAX_ENTRY_CHARS:
            raise SpecError(f"each policy entry must be 1 to {MAX_ENTRY_CHARS} characters, got {written[:40]!r}")
        text = written.strip()
        if len(text) > 2 and text.startswith("/") and text.endswith("/"):
            try:
                pattern = regex.compile(text[1:-1], regex.IGNORECASE | regex.V0)
            except regex.error as err:
                raise SpecError(f"policy pattern '{quoted(text)}' is not a regular expression: {err}") from None
        else:
            word = normal_form(text)
            if not word:
                raise SpecError(f"policy entry '{quoted(text)}' is empty once normalised")
            pattern = regex.compile(rf"(?<!\w){regex.escape(word)}(?!\w)")
        entries.append((text, pattern))
    return Policy(tuple(entries))
