"""Shared fixtures: a Markdown renderer like MkDocs', and real temp MkDocs sites."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
import yaml

from mkdocs_wan.page.directives import Directive, custom_fence, find_directives

#: CI sets this: a test that would skip because a prerequisite is missing (Chromium, Ray, a
#: network namespace, tmpfs, an engine) fails instead, so a green run means everything ran.
REQUIRE_ALL = os.environ.get("MKDOCS_WAN_REQUIRE_ALL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but MKDOCS_WAN_REQUIRE_ALL=1 forbids skips: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped, but MKDOCS_WAN_REQUIRE_ALL=1 forbids skips: {report.longrepr}"


EXTENSIONS = ["admonition", "md_in_html", "pymdownx.highlight", "pymdownx.superfences", "pymdownx.tabbed"]


@pytest.fixture
def render() -> Callable[[str], str]:
    """Markdown → HTML with the extensions material sites use and the video-gen fence."""

    def convert(text: str) -> str:
        md = markdown.Markdown(
            extensions=EXTENSIONS,
            extension_configs={"pymdownx.superfences": {"custom_fences": [custom_fence()]}},
        )
        return md.convert(textwrap.dedent(text))

    return convert


@pytest.fixture
def directives(render: Callable[[str], str]) -> Callable[[str], list[Directive]]:
    def find(text: str) -> list[Directive]:
        text = textwrap.dedent(text)
        return find_directives(render(text), text)

    return find


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the session's builds, so the tiny model is saved once."""
    return tmp_path_factory.mktemp("wan-cache")


def summary(expected: str, output: str) -> bool:
    """The build's summary line, with the clip bytes (which vary) wildcarded."""
    pattern = re.escape(expected).replace(re.escape("(MB)"), r"\([\d.]+ MB\)")
    return re.search(pattern, output) is not None


class _StartTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


class _Tokens(HTMLParser):
    """Every token a browser's tokenizer sees, attributes sorted: a page's structure, exactly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple[object, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(("start", tag, tuple(sorted(attrs, key=lambda a: (a[0], a[1] or "")))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(("startend", tag, tuple(sorted(attrs, key=lambda a: (a[0], a[1] or "")))))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.tokens and self.tokens[-1][0] == "data":
            data = str(self.tokens.pop()[1]) + data
        self.tokens.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.tokens.append(("pi", data))

    def unknown_decl(self, data: str) -> None:
        self.tokens.append(("unknown", data))


def tokens(html: str) -> list[tuple[object, ...]]:
    parser = _Tokens()
    parser.feed(html)
    parser.close()
    return parser.tokens


#: The plugin's markup (embed.py), whole: escaped text can contain neither closing tag.
OUR_MARKUP = re.compile(
    r'<figure class="wan-video[" ].*?</figure>'
    r'|<div class="admonition (?:failure wan-video-error|note wan-video-withheld)".*?</div>',
    re.DOTALL,
)
#: The elements and attributes the plugin's markup may use, and nothing else.
OUR_ELEMENTS = {
    "figure": {"class", "data-wan-key", "data-prompt", "data-model", "data-seed", "data-generator"},
    "video": {"src", "poster", "width", "height", "muted", "playsinline", "loop", "data-wan-autoplay", "controls",
              "preload", "aria-label", "aria-describedby"},
    "span": {"class", "id", "data-search-exclude"}, "figcaption": set(),
    "div": {"class", "role", "aria-label", "style"}, "strong": set(), "p": {"class"}, "code": set(),
}  # fmt: skip
CLIP = "\ue000"  # stands for one directive (before) or one embed (after)


def _clips_apart(found: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Each CLIP as a token of its own, the text around it as data tokens (empty ones dropped)."""
    out: list[tuple[object, ...]] = []
    for token in found:
        if token[0] != "data" or CLIP not in str(token[1]):
            out.append(token)
            continue
        for i, part in enumerate(str(token[1]).split(CLIP)):
            out += [("clip",)] if i else []
            out += [("data", part)] if part else []
    return out


def _out_of_paragraphs(found: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """What the plugin promises for a clip that stands inside a `<p>` (a clip is block content):
    the paragraph is closed before it and opened again after it (with its attributes but its
    id), and a side left empty (or only whitespace) is not written."""
    out: list[tuple[object, ...]] = []
    opened: list[tuple[object, ...]] = []  # the start tags of the paragraphs open here
    for token in _clips_apart(found):
        if token[:2] == ("start", "p"):
            opened.append(token)
        elif token[:2] == ("end", "p") and opened:
            opened.pop()
        if token == ("clip",) and opened:
            again = tuple((name, value) for name, value in opened[-1][2] if name != "id")  # type: ignore[union-attr]
            out += [("end", "p"), token, ("start", "p", again)]
        else:
            out.append(token)
    kept: list[tuple[object, ...]] = []
    for token in out:
        if token[:2] == ("end", "p"):
            at = len(kept)
            while at and kept[at - 1][0] == "data" and not str(kept[at - 1][1]).strip():
                at -= 1
            if at and kept[at - 1][:2] == ("start", "p"):
                del kept[at - 1 :]
                continue
        kept.append(token)
    return kept


def assert_only_clips_changed(before: str, after: str) -> list[str]:
    """`after` is `before` with each directive replaced by the plugin's markup and nothing else
    changed — compared token by token, closing tags and text included. Returns the embeds."""
    spans = find_directives(before)
    marked, end = [], 0
    for directive in spans:
        marked += [before[end : directive.start], CLIP]
        end = directive.end
    marked.append(before[end:])
    embeds = OUR_MARKUP.findall(after)
    assert len(embeds) == len(spans), (len(embeds), len(spans))
    assert _clips_apart(tokens(OUR_MARKUP.sub(CLIP, after))) == _out_of_paragraphs(tokens("".join(marked)))
    for embed in embeds:
        depth = 0
        for token in tokens(embed):
            if token[0] == "start":
                tag, attrs = str(token[1]), {name for name, _ in token[2]}  # type: ignore[misc]
                assert tag in OUR_ELEMENTS and attrs <= OUR_ELEMENTS[tag], (tag, attrs, embed)
                depth += 1
            elif token[0] == "end":
                depth -= 1
            else:
                assert token[0] == "data", (token, embed)
        assert depth == 0, embed  # every element the plugin opens, it closes
    return embeds


def start_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag in `html` with its attributes, as a browser's tokenizer sees them."""
    parser = _StartTags()
    parser.feed(html)
    return parser.tags


class Site:
    """A real MkDocs site in a temp folder, built by the real `mkdocs` CLI in a subprocess."""

    def __init__(self, root: Path, cache_dir: Path) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self.options: dict[str, object] = {
            "model": "tiny",
            "cache_dir": str(cache_dir),
            "size": "64x64",
            "frames": 9,
            "steps": 2,
        }
        self.config: dict[str, object] = {"site_name": "Test", "use_directory_urls": True}

    @property
    def site_dir(self) -> Path:
        return self.root / "site"

    def page(self, path: str, text: str) -> Path:
        target = self.root / "docs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
        return target

    def write_config(self) -> None:
        plugins = [*self.config.get("plugins", []), {"wan": self.options}]  # the site's own plugins first
        config = {**self.config, "plugins": plugins}
        (self.root / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def env(self) -> dict[str, str]:
        return {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the `mkdocs-wan` command in the site folder."""
        self.write_config()
        cmd = [sys.executable, "-m", "mkdocs_wan", *args]
        return subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=300)

    def popen_build(self, *args: str) -> subprocess.Popen[str]:
        self.write_config()
        cmd = [sys.executable, "-m", "mkdocs", "build", *args]
        return subprocess.Popen(
            cmd, cwd=self.root, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def build(self, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `mkdocs build ARGS`; with `script`, run it in-process after the build instead."""
        self.write_config()
        env = self.env()
        if script is None:
            cmd = [sys.executable, "-m", "mkdocs", "build", *args]
        else:
            code = (
                "import sys\nfrom mkdocs.__main__ import cli\n"
                f"cli(['build', *{list(args)!r}], standalone_mode=False)\n{script}"
            )
            cmd = [sys.executable, "-c", code]
        return subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def site(tmp_path: Path, shared_cache: Path) -> Site:
    return Site(tmp_path, shared_cache)
