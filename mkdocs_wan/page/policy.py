"""The site's content policy: words and patterns a prompt may not contain, checked before any model work.

Both the prompt and the policy's words are compared in one normal form — compatibility-decomposed
(full-width letters, ligatures), every combining mark (spacing ones too) and invisible format
character (zero-width space and joiner, soft hyphen, bidi controls, variation selectors) removed,
case-folded, whitespace collapsed — so a look-alike spelling of a refused word is the word. A word
matches whole between letters (`gore` refuses "gore", "Gore!", "gore_fest" and "gore2", not
"gorean"); a pattern `/.../` is a regular expression searched in the normal form,
case-insensitively, with a time limit (the `regex` module's: a pattern that backtracks without end
on some prompt is an error naming it, not a hung build), and its counted repeats are bounded
before it is compiled (`regex` expands them: `((a{99}){99}){99}` alone takes gigabytes). Latin
look-alikes that compatibility forms miss — small capitals, IPA letters, dotless i and j, the
dental click letter (U+01C0), and by their Unicode names letters with a stroke, bar or hook,
turned and reversed letters, parenthesized letters and regional indicators — are folded too, and
invisible fillers (Hangul, braille blank) dropped. Characters of other scripts that merely look
alike (a Cyrillic o for a Latin one) are different letters and are not folded.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from mkdocs_wan.logs import quoted
from mkdocs_wan.page.spec import SpecError

MAX_ENTRIES = 1_000
PATTERN_SECONDS = 0.5  # one pattern on one prompt (prompts are at most 2,000 characters)
MAX_ENTRY_CHARS = 200
MAX_REPEAT_PRODUCT = 10_000  # nested counted repeats, multiplied: what compiling a pattern expands
REFUSED = "refused by the site's content policy"


#: Latin letters NFKC leaves alone that read as another: small capitals and IPA shapes.
_LATIN_LOOKALIKES = str.maketrans(
    "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɡɑɩʋıȷǀ",
    "abcdefghijklmnoprstuvwyzgaivijl",
)
#: Letters that show as nothing: Hangul fillers and the braille blank (not format characters).
_FILLERS = dict.fromkeys(map(ord, "\u115f\u1160\u3164\uffa0\u2800"))


#: A Latin letter by its Unicode name, whatever is drawn through, around or under it: "LATIN SMALL
#: LETTER O WITH STROKE" (ø), "... TURNED R" (ɹ), "PARENTHESIZED LATIN SMALL LETTER G" (⒢),
#: "REGIONAL INDICATOR SYMBOL LETTER G" (🇬). Two-letter names (æ: "AE") are other letters.
_LETTER_NAME = re.compile(
    r"(?:PARENTHESIZED |CIRCLED |REGIONAL INDICATOR SYMBOL )?(?:LATIN (?:SMALL |CAPITAL )?)?LETTER "
    r"(?:(?:SMALL CAPITAL|TURNED|BARRED|REVERSED|SCRIPT|DOTLESS|CLOSED|OPEN|SIDEWAYS|LONG|INVERTED) )*"
    r"([A-Z])(?: WITH .*)?"
)


@functools.lru_cache(maxsize=4096)
def _base_letter(char: str) -> str:
    match = _LETTER_NAME.fullmatch(unicodedata.name(char, ""))
    return match[1].lower() if match else char


def normal_form(text: str) -> str:
    """The text as the policy compares it (see the module docstring)."""
    named = "".join(c if c.isascii() else _base_letter(c) for c in text)  # before NFKD makes ⒢ "(g)"
    decomposed = unicodedata.normalize("NFKD", named).translate(_FILLERS)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Mc", "Me", "Cf"))
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
            if repeat_product(text[1:-1]) > MAX_REPEAT_PRODUCT:
                raise SpecError(
                    f"policy pattern '{quoted(text)}' repeats too much (nested counted repeats over "
                    f"{MAX_REPEAT_PRODUCT:,} in all would take gigabytes to compile); use + or * instead"
                )
            try:
                pattern = regex.compile(text[1:-1], regex.IGNORECASE | regex.V0)
            except (regex.error, ValueError, OverflowError, RecursionError, MemoryError) as err:
                raise SpecError(f"policy pattern '{quoted(text)}' is not a regular expression: {err}") from None
        else:
            word = normal_form(text)
            if not word:
                raise SpecError(f"policy entry '{quoted(text)}' is empty once normalised")
            pattern = regex.compile(rf"(?<!\p{{L}}){regex.escape(word)}(?!\p{{L}})")
        entries.append((text, pattern))
    return Policy(tuple(entries))


def repeat_product(pattern: str) -> int:
    """The largest product of nested counted repeats (`{n}`, `{n,m}`, `{n,}`) in a pattern: how
    many copies of an atom compiling it may expand to. Escapes and character classes are skipped."""
    import re

    stack, last, i, worst = [1], 1, 0, 1  # each open group's largest product inside; the last atom's
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i, last = i + 2, 1
            continue
        if char == "[":  # a class is one atom: skip to its closing bracket
            end = pattern.find("]", i + 2)
            i, last = (len(pattern) if end == -1 else end + 1), 1
            continue
        if char == "(":
            stack.append(1)
        elif char == ")" and len(stack) > 1:
            last = stack.pop()
            stack[-1] = max(stack[-1], last)
        elif char == "{" and (counted := re.match(r"\{(\d*),?(\d*)\}", pattern[i:])):
            count = max(int(counted[1] or 0), int(counted[2] or 0), 1)
            last *= count
            stack[-1] = max(stack[-1], last)
            worst = max(worst, last)
            i += len(counted[0])
            continue
        else:
            last = 1
        i += 1
    return worst
