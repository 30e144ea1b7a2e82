"""The fenced form on sites without SuperFences, without changing how their other code renders.

Enabling `pymdownx.superfences` for a site that uses `fenced_code` + `codehilite` would change
the markup of every code block (`codehilite` → `highlight`) and so the site's CSS. Instead, a
preprocessor that runs just before `fenced_code` turns only ```` ```video-gen ```` blocks into the
directive marker and leaves every other block, byte for byte, to whatever renders it. It finds
blocks with `fenced_code`'s own pattern, so a fence shown inside a longer example fence stays
an example, exactly as `fenced_code` would treat it.
"""

from __future__ import annotations

from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from mkdocs_wan.page.directives import FENCE_NAME, fence_format

_PRIORITY = 26  # fenced_code's preprocessor is 25: ours must see the fences first


class _VideoGenFences(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        # Imported here: fenced_code pulls in codehilite and Pygments (~13 ms), which a site with
        # SuperFences (the plugin never registers this there) should not pay for at import.
        from markdown.extensions.fenced_code import FencedBlockPreprocessor

        text = "\n".join(lines)
        out: list[str] = []
        end = 0
        for match in FencedBlockPreprocessor.FENCED_BLOCK_RE.finditer(text):
            attrs = (match["attrs"] or "").replace(".", " ").split()
            if match["lang"] != FENCE_NAME and FENCE_NAME not in attrs:
                continue
            marker = self.md.htmlStash.store(fence_format(match["code"], FENCE_NAME, FENCE_NAME, {}, self.md))
            out += [text[end : match.start()], f"\n\n{marker}\n\n"]
            end = match.end()
        out.append(text[end:])
        return "".join(out).split("\n")


class VideoGenFenceExtension(Extension):
    """Registers the preprocessor; added by the plugin only where SuperFences is not in use."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_VideoGenFences(md), "mkdocs_wan_fence", _PRIORITY)


def make_extension(**kwargs: Any) -> VideoGenFenceExtension:
    return VideoGenFenceExtension(**kwargs)
