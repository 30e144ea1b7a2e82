"""Find video-gen directives in a rendered page and read their options.

Detection runs on rendered HTML, never on raw Markdown: by then every code block, inline code
span and nested example fence has been escaped by Python-Markdown, so a directive shown as
documentation can't match. Comment directives survive rendering verbatim; fenced ones are turned
into a marker comment by a SuperFences custom fence (`fence_format`). Line numbers, which HTML
has lost, are recovered by matching each found directive, in order, against a scan of the source.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from yaml.events import AliasEvent, ScalarEvent

from mkdocs_wan.page.sourcelines import match_key, source_lines
from mkdocs_wan.page.unclosed import MARKER

#: A directive's text is a prompt and a few options: more than this is a mistake, refused before
#: any parsing (so no input can make parsing slow or memory-hungry).
MAX_DIRECTIVE_CHARS = 16_384
#: A clip spec is flat: a mapping, at most a list of segments, each at most a small mapping.
MAX_YAML_DEPTH = 4

FENCE_NAME = "video-gen"

_FENCE_MARKER = "<!--wan-fence:{}-->"
#: Both forms begin with `<!--`, so the regex engine skips to each one at string-search speed.
_HTML_DIRECTIVE = re.compile(
    r"<!--(?:\s*@video-gen(?=\s|-->)(?P<comment>(?:(?!<!--).)*?)|wan-fence:(?P<fence>[\w=-]*))-->", re.DOTALL
)
_CLOSE_P = re.compile(r"\s*</p>")
_OPTION_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class DirectiveError(ValueError):
    """A directive that cannot be read; `line_offset` points inside a multi-line directive."""

    def __init__(self, message: str, line_offset: int = 0) -> None:
        super().__init__(message)
        self.line_offset = line_offset


@dataclass(frozen=True)
class Directive:
    """One directive found in a page's HTML."""

    kind: Literal["comment", "fence"]
    text: str  # comment body after `@video-gen`, or the fence's YAML source
    start: int  # span in the page HTML that the embed replaces
    end: int
    line: int  # 1-based line in the page's Markdown source (or in `origin`)
    origin: str = ""  # the included file (pymdownx.snippets) the directive came from, if not the page
    never_closed: bool = False  # its comment had no `-->` in the source (closed for the reader)


def fence_format(source: str, language: str, css_class: str, options: Any, md: Any, **kwargs: Any) -> str:
    """SuperFences formatter: leave a marker that `find_directives` picks up in the page HTML."""
    return _FENCE_MARKER.format(base64.urlsafe_b64encode(source.encode()).decode())


def custom_fence() -> dict[str, Any]:
    """The `pymdownx.superfences` `custom_fences` entry for the fenced form."""
    return {"name": FENCE_NAME, "class": FENCE_NAME, "format": fence_format}


def has_directives(html: str) -> bool:
    """A cheap pre-check: could `html` hold a directive at all?"""
    return "@video-gen" in html or "<!--wan-fence:" in html


_VIDEO = re.compile("video", re.IGNORECASE)


def worth_reading(html: str) -> bool:
    """Could `html` hold a directive, or a near miss the build warns about? Each has the word
    "video" in some case, or is a fence's marker. Most pages of a site have neither: they are
    left exactly as they are, without reading their source again."""
    return "<!--wan-fence:" in html or _VIDEO.search(html) is not None


_UNCLOSED = re.compile(r"&lt;!--\s*@video-gen\b[^<\n]{0,60}|<!--\s*@video-gen\b(?:(?!-->).)*?<!--", re.DOTALL)
# Begins with a literal the regex engine skips to at string-search speed.
_NEAR_COMMENT = re.compile(r"<!--\s*((?i:@?\s*video[\s_-]*gen\w*))")
_NEAR_FENCE = re.compile(r'class="(?:[^"]*\s)?language-(video[\w-]*gen[\w-]*)"', re.IGNORECASE)
_CODE_OPEN = re.compile(r"<(?:code|pre)\b")
_CODE_CLOSE = re.compile(r"</(?:code|pre)>")


def near_misses(html: str) -> list[tuple[str, str]]:
    """Text in rendered `html` that a writer meant as a directive but that is not one — a comment
    never closed, a misspelt directive word, a misspelt fence name — as (source text to find its
    line by, problem). Code spans and blocks are documentation, not mistakes."""
    if _VIDEO.search(html) is None:
        return []
    found: list[tuple[int, str, str]] = []
    in_code = _code_spans(html)
    for match in _UNCLOSED.finditer(html):
        if not in_code(match.start()):
            text = match[0].replace("&lt;", "<").split("\n", 1)[0].strip()
            problem = "this directive's comment is never closed, so the page shows it as text (or hides what follows)"
            found.append((match.start(), text, f"{problem}: end it with -->"))
    for match in _NEAR_COMMENT.finditer(html):
        word = match[1]
        if word != "@video-gen" and not in_code(match.start()):
            problem = f"{' '.join(word.split())!r} is not a directive: write <!-- @video-gen PROMPT -->"
            found.append((match.start(), match[0], problem))
    for match in _NEAR_FENCE.finditer(html):
        if match[1] != FENCE_NAME:
            found.append((match.start(), match[1], misnamed_fence(match[1])))
    return [(text, problem) for _, text, problem in sorted(found)]


def misnamed_fence(name: str) -> str:
    return f"a {name!r} code block is not a directive: name the fence {FENCE_NAME}"


_RAW_TEXT = ("script", "style", "textarea", "title")
_RAW_TEXT_TAG = re.compile(r"<(?i:script|style|textarea|title)")


def _markup_places(html: str) -> Callable[[int], bool]:
    """Is a position where a tag or comment can start — not inside another tag (an attribute
    value) nor inside an element whose content is text (`<script>`, `<style>`, `<textarea>`,
    `<title>`)? The nearest `<` and `>` before it are searched back from it (each search stops at
    the directive before: linear in the page); raw-text tags, which most pages lack, are found
    once and looked up by bisection, so a page with thousands of directives costs a linear scan."""
    raw: list[list[int]] = []  # filled on the first question, where the page has such a tag

    def last(positions: list[int], at: int) -> int:
        index = bisect.bisect_left(positions, at)
        return positions[index - 1] if index else -1

    def markup(at: int) -> bool:
        if html.rfind("<", 0, at) > html.rfind(">", 0, at):
            return False
        if not raw:
            raw.append([])  # asked once
            if _RAW_TEXT_TAG.search(html):
                lower = html.lower()
                for tag in _RAW_TEXT:
                    raw.extend([m.start() for m in re.finditer(p, lower)] for p in (f"<{tag}", f"</{tag}"))
        return all(last(raw[i], at) <= last(raw[i + 1], at) for i in range(1, len(raw), 2))

    return markup


def _code_spans(html: str) -> Callable[[int], bool]:
    """Is a position inside a `<code>` or `<pre>` element (the last one opened before it is still
    open)? The tags are found once per page, on the first question (most pages ask none), and
    looked up by bisection: a page with thousands of near misses costs a linear scan."""
    tags: list[list[int]] = []

    def inside(at: int) -> bool:
        if not tags:
            tags.extend([m.start() for m in pattern.finditer(html)] for pattern in (_CODE_OPEN, _CODE_CLOSE))
        opens, closes = tags
        opened, closed = bisect.bisect_left(opens, at), bisect.bisect_left(closes, at)
        return (opens[opened - 1] if opened else -1) > (closes[closed - 1] if closed else -1)

    return inside


def find_directives(html: str, markdown: str = "", included: Mapping[str, str] | None = None) -> list[Directive]:
    """Every directive in rendered `html`, in order, with lines taken from its `markdown` source,
    or from one of the `included` files ({name: text}, e.g. snippets) where the page lacks it."""
    found: list[tuple[str, str, re.Match[str], tuple[int, int]]] = []
    markup = _markup_places(html)
    for match in _HTML_DIRECTIVE.finditer(html):
        span = _paragraph(html, match)
        if not markup(span[0]):
            continue  # text that only looks like a comment: in a script, a textarea, a title, an attribute
        if match["fence"] is not None:
            try:
                text = base64.urlsafe_b64decode(match["fence"]).decode()
            except ValueError:  # a hand-written marker, not ours
                continue
            found.append(("fence", text, match, span))
        else:
            found.append(("comment", match["comment"].replace(MARKER, ""), match, span))
    keys = [(kind, match_key(kind, text), match.start()) for kind, text, match, _ in found]
    lines = source_lines(keys, markdown, included or {}, html)
    return [
        Directive(kind, text, *span, line, origin, MARKER in (match["comment"] or ""))  # type: ignore[arg-type]
        for (kind, text, match, span), (origin, line) in zip(found, lines, strict=True)
    ]


def _paragraph(html: str, match: re.Match[str]) -> tuple[int, int]:
    """The span the embed replaces: the directive, with the `<p>` around it if it stands alone in
    one (Python-Markdown wraps a comment that shares a paragraph's lines in it)."""
    start, end = match.span()
    size = 64
    while True:  # back over the spaces before it, in growing steps: linear in the run, which ends
        window = max(0, start - size)  # at the last directive at the latest
        opened = window + len(html[window:start].rstrip())
        if opened > window or not window:
            break
        size *= 4
    if html.endswith("<p>", 0, opened) and (after := _CLOSE_P.match(html, end)):
        return opened - 3, after.end()
    return start, end


def parse_options(directive: Directive) -> dict[str, Any]:
    """The directive's raw options, `prompt` included; values are validated later by `spec`."""
    if len(directive.text) > MAX_DIRECTIVE_CHARS:
        raise DirectiveError(
            f"the directive is {len(directive.text):,} characters long, over the limit of {MAX_DIRECTIVE_CHARS:,}"
        )
    if directive.kind == "fence":
        return _parse_yaml(directive.text)
    return _parse_comment(directive.text)


def _parse_comment(body: str) -> dict[str, Any]:
    body = body.strip()
    options: dict[str, Any] = {}
    if body.endswith("}"):
        start = _options_start(body)
        if start is None:
            _parse_pairs(body[body.rfind("{") + 1 : -1])  # names the problem (e.g. an open quote), if it can
            raise DirectiveError("cannot read the options in braces: unbalanced braces or quotes")
        options = _parse_pairs(body[start + 1 : -1])
        body = body[:start]
    elif "{" in body and "}" not in body[body.rindex("{") :]:
        raise DirectiveError("unclosed '{' in the options")
    options["prompt"] = " ".join(body.split())
    return options


def _options_start(body: str) -> int | None:
    """Where the trailing `{…}` options block starts: the first `{` whose block, read with quotes
    respected (a quoted value may hold braces and `=`), ends exactly at the final `}`."""
    for start in (i for i, char in enumerate(body) if char == "{"):
        quote = None
        for index in range(start + 1, len(body)):
            char = body[index]
            if quote:
                quote = None if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "{":
                break  # a nested or stray brace: this block cannot be the options
            elif char == "}":
                if index == len(body) - 1:
                    return start
                break
    return None


def _parse_pairs(text: str) -> dict[str, str]:
    try:
        tokens = shlex.split(text)
    except ValueError as err:
        raise DirectiveError(f"cannot read the options {{{text.strip()}}}: {err}") from None
    options: dict[str, str] = {}
    for index, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if not sep and options:  # `caption=A red kite`: the words after the first are stray
            last = list(options)[-1]
            stray = itertools.takewhile(lambda word: "=" not in word, tokens[index:])
            quoted = " ".join([options[last], *stray])[:80]
            hint = f'a value with spaces needs quotes: {last}="{quoted}"'
            raise DirectiveError(f"expected option=value in the braces, got {token!r}; {hint}")
        if not sep or not _OPTION_NAME.fullmatch(name):
            raise DirectiveError(f"expected option=value in the braces, got {token!r}")
        if name == "prompt":
            raise DirectiveError("the prompt goes before the braces, not in them")
        if name in options:
            raise DirectiveError(f"option '{name}' is given twice")
        options[name] = value
    return options


MERGE_TAG = "tag:yaml.org,2002:merge"


class _Flat:
    """A YAML loader part refusing what a clip spec never needs: anchors and aliases (a few
    hundred bytes of them expand to gigabytes) and merge keys (their companion), nesting deeper
    than `MAX_YAML_DEPTH`, and a key given twice (YAML would let the later one win without a word)."""

    what = "video-gen block"  # what the messages call the text being read

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def _merge(self, event: ScalarEvent) -> bool:
        """Is this scalar YAML's merge key: `!!merge` by tag (however spelt), or a bare `<<` where
        the loader resolves types (text mode keeps every scalar as text, `<<` included)?"""
        if event.tag == MERGE_TAG:
            return True
        return event.tag is None and event.style is None and event.value == "<<" and isinstance(self, yaml.SafeLoader)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise DirectiveError(f"YAML anchors and aliases (& and *) are not allowed in a {self.what}", line)
        if isinstance(event, ScalarEvent) and self._merge(event):
            if event.tag == MERGE_TAG or (index is None and isinstance(parent, yaml.MappingNode)):
                raise DirectiveError(f"YAML merge keys (<<) are not allowed in a {self.what}: write the keys out", line)
            raise DirectiveError(f"quote '<<' in a {self.what} (bare, YAML takes it for a merge key)", line)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise DirectiveError(f"the {self.what} nests deeper than {MAX_YAML_DEPTH} levels", line)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode):  # YAML lets a later key win silently: refuse it
            seen: set[str] = set()
            for key, _value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        where = key.start_mark.line + 1 if key.start_mark else line
                        raise DirectiveError(f"{key.value[:40]!r} is given twice in the {self.what}", where)
                    seen.add(key.value)
        return node


class _FlatLoader(_Flat, yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader with `_Flat`'s limits: YAML's types (numbers, true/false, null)."""


class _FlatTextLoader(_Flat, yaml.BaseLoader):  # type: ignore[misc]
    """`_Flat`'s limits, every scalar kept as the text it was written as (a data file's `1.10`
    stays "1.10", `010` stays "010": rows are text for prompts, not numbers)."""


def load_flat_yaml(source: str, what: str = "video-gen block", text: bool = False) -> Any:
    """YAML read by the safe loader without anchors, aliases, repeated keys or deep nesting (with
    `text`, every scalar as its text); DirectiveError (with the line, as an offset) names `what`."""
    loader = type("Loader", (_FlatTextLoader if text else _FlatLoader,), {"what": what})
    try:
        return yaml.load(source, Loader=loader)  # a SafeLoader subclass
    except DirectiveError:  # the loader's own (a ValueError, so before the catch-all below)
        raise
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        offset = mark.line + 1 if mark is not None else 1
        raise DirectiveError(f"invalid YAML in the {what}: {problem}", offset) from None
    except RecursionError:
        raise DirectiveError(f"the {what} nests deeper than {MAX_YAML_DEPTH} levels") from None
    except (ValueError, OverflowError) as err:  # e.g. an integer of more than 4,300 digits
        raise DirectiveError(f"invalid value in the {what}: {err}") from None


def _parse_yaml(source: str) -> dict[str, Any]:
    data = load_flat_yaml(source)
    if data is None:
        data = {}
    if isinstance(data, str):  # a block holding only a prompt
        data = {"prompt": data}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise DirectiveError("a video-gen block must be a YAML mapping (prompt: …, size: …)")
    return dict(data)
