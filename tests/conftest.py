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

from mkdocs_wan.directives import Directive, custom_fence, find_directives

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
        config = {**self.config, "plugins": [{"wan": self.options}]}
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
