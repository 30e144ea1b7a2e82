"""Real sites: Material's blog, front matter, snippets, an extension-heavy Material site, a
`fenced_code` + `codehilite` site compared page by page with and without the plugin, search."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import Site, assert_only_clips_changed, summary

from mkdocs_wan.media.encode import count_frames

pytest.importorskip("material", reason="mkdocs-material is part of the test extra")

TINY = {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2}


def mkdocs_build(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """`mkdocs build` on a site whose mkdocs.yml the test wrote itself."""
    cmd = [sys.executable, "-m", "mkdocs", "build", *args]
    return subprocess.run(cmd, cwd=site.root, env=site.env(), capture_output=True, text=True, timeout=300)


def videos(html: str) -> list[str]:
    return re.findall(r'<figure class="wan-video"[^>]*><video src="([^"]+)"', html)


def assert_playable(page: Path, srcs: list[str]) -> None:
    for src in srcs:
        clip = (page.parent / src).resolve()
        assert clip.is_file() and count_frames(clip) == 9, (page, src)


POST = """---
date: 2026-11-{day:02d}
categories:
  - {category}
---

# {title}

<!-- @video-gen {title}: a kite in the excerpt -->

```video-gen
prompt: "{title}: a fenced kite in the excerpt"
```

<!-- more -->

The rest of the post.

<!-- @video-gen {title}: a clip after the excerpt -->
"""


def test_clips_in_material_blog_excerpts_on_index_archive_category_and_author_pages(site: Site):
    site.config.update({"theme": {"name": "material"}, "markdown_extensions": ["pymdownx.superfences"]})
    site.options.update(TINY)
    site.write_config()
    config = site.root / "mkdocs.yml"
    text = config.read_text().replace(
        "plugins:\n", "plugins:\n- search\n- blog:\n    authors_file: blog/.authors.yml\n    authors_profiles: true\n"
    )
    site.page("index.md", "# Home\n")
    site.page("blog/index.md", "# Blog\n")
    site.page("blog/.authors.yml", "authors:\n  ann:\n    name: Ann\n    description: Writer\n    avatar: a.png\n")
    for day, (title, category) in enumerate((("First", "News"), ("Second", "Howto")), start=1):
        post = POST.format(day=day, title=title, category=category)
        site.page(f"blog/posts/{title.lower()}.md", post.replace("---\n\n#", "authors:\n  - ann\n---\n\n#", 1))
    config.write_text(text)
    result = mkdocs_build(site, "--strict")
    assert result.returncode == 0, result.stderr
    assert summary("6 clips (MB), 6 generated, 0 cached", result.stderr), result.stderr
    out = site.site_dir
    listings = {
        "blog/index.html": 4,  # two excerpts, two clips each
        "blog/archive/2026/index.html": 4,
        "blog/category/news/index.html": 2,
        "blog/category/howto/index.html": 2,
        "blog/author/ann/index.html": 4,
    }
    for name, count in listings.items():
        html = (out / name).read_text()
        assert "@video-gen" not in html and "wan-fence" not in html, name
        assert len(videos(html)) == count, (name, videos(html))
        assert_playable(out / name, videos(html))
    post = (out / "blog" / "2026" / "11" / "01" / "first" / "index.html").read_text()
    assert len(videos(post)) == 3  # the post itself: both excerpt clips and the one after "more"


def test_front_matter_counts_in_page_lines(site: Site):
    site.options.update(TINY)
    site.page(
        "index.md", "---\ntitle: Home\ntags:\n  - a\n---\n\n\n# Home\n\n<!-- @video-gen A kite {frames=ten} -->\n"
    )
    site.page("plain.md", "# Plain\n\n<!-- @video-gen A kite {frames=ten} -->\n")
    result = site.build()
    assert "index.md:10: frames must be an integer" in result.stderr, result.stderr
    assert "plain.md:3: frames must be an integer" in result.stderr, result.stderr


def test_a_snippet_included_directive_is_named_by_its_file_and_line(site: Site):
    site.options.update(TINY)
    site.config["markdown_extensions"] = [{"pymdownx.snippets": {"base_path": ["snippets"]}}]
    (site.root / "snippets").mkdir()
    (site.root / "snippets" / "clip.md").write_text("Intro.\n\n<!-- @video-gen A snipped kite {steps=0} -->\n")
    site.page(
        "index.md",
        '# Home\n\n```markdown\n<!-- @video-gen A snipped kite {steps=0} -->\n```\n\n--8<-- "clip.md"\n',
    )
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "snippets/clip.md:3: steps must be between 1 and" in result.stderr, result.stderr
    assert "index.md:4" not in result.stderr  # not the code example that happens to look alike


def test_a_page_mkdocs_macros_rewrote_is_named_by_the_lines_of_its_source(site: Site):
    """mkdocs-macros renders each page as a Jinja template before the plugin sees it: lines must be
    the file's, as the editor shows them, not the expanded text's."""
    pytest.importorskip("mkdocs_macros", reason="mkdocs-macros-plugin is part of the test extra")
    site.options.update(TINY)
    site.config["plugins"] = ["macros"]  # Site adds the wan plugin after it
    site.config["extra"] = {"product": "Kite"}
    site.page(
        "index.md",
        "---\ntitle: Home\n---\n# {{ config.extra.product }}\n\n{{ 'A line of the macro.\\n\\n' * 30 }}\n"
        "<!-- @video-gen A {{ config.extra.product }} {frames=ten} -->\n\nEnd.\n",
    )
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "index.md:7: frames must be an integer, got 'ten'" in result.stderr, result.stderr


CODEHILITE_PAGES = {
    "index.md": "---\ntitle: Home\n---\n\n# Home\n\n```python\nprint('hi')\n```\n\n"
    "<!-- @video-gen A kite over a codehilite site -->\n\n    indented = 'code'\n",
    "code.md": "# Code only\n\n```js\nconst a = 1;\n```\n\n"
    "````markdown\n```video-gen\nprompt: only an example\n```\n````\n",
    "fence.md": "# Fence\n\n```python\nx = 1\n```\n\n```video-gen\nprompt: A fenced kite without SuperFences\n```\n",
}


def test_a_site_without_superfences_renders_exactly_as_before(tmp_path: Path, shared_cache: Path):
    """fenced_code + codehilite: adding the plugin changes no code block's markup; the fenced
    form still works; every page outside the clips is identical token by token."""
    built = {}
    for name, plugins in (
        ("without", ["search"]),
        ("with", ["search", {"wan": {**TINY, "cache_dir": str(shared_cache)}}]),
    ):
        site = Site(tmp_path / name, shared_cache)
        for page, text in CODEHILITE_PAGES.items():
            site.page(page, text)
        site.config.update({"markdown_extensions": ["fenced_code", "codehilite"], "plugins": plugins})
        (site.root / "mkdocs.yml").write_text(json.dumps(site.config))
        result = mkdocs_build(site, "--strict")
        assert result.returncode == 0, result.stderr
        built[name] = site.site_dir
    css = re.compile(  # the plugin's own stylesheet and script, on the pages with a clip
        r'\n<link href="[./]*assets/stylesheets/mkdocs-wan\.css" rel="stylesheet">'
        r'|\n<script src="[./]*assets/javascripts/mkdocs-wan\.js"></script>'
    )
    stamp = re.compile(r"<!--\nMkDocs version.*?-->", re.S)  # the build time differs, of course
    compared = 0
    for before_path in sorted(built["without"].rglob("*.html")):
        after_path = built["with"] / before_path.relative_to(built["without"])
        before = stamp.sub("", before_path.read_text())
        after = stamp.sub("", css.sub("", after_path.read_text()))
        if before_path.parent.name == "fence":
            blocks = re.findall(r'<div class="codehilite">.*?</div>', before, re.S)
            assert re.findall(r'<div class="codehilite">.*?</div>', after, re.S) == blocks[:1]  # python kept
            assert len(videos(after)) == 1 and "A fenced kite without SuperFences" in after
            continue
        assert_only_clips_changed(before, after)
        compared += 1
    assert compared >= 3
    assert 'class="codehilite"' in (built["with"] / "code" / "index.html").read_text()
    assert "only an example" in (built["with"] / "code" / "index.html").read_text()


def test_search_text_keeps_the_ai_label_apart_from_the_caption(site: Site):
    site.options.update(TINY)
    site.config["plugins"] = ["search"]
    site.page("index.md", "# Home\n\n<!-- @video-gen A kite for search -->\n")
    site.write_config()
    text = (site.root / "mkdocs.yml").read_text()
    (site.root / "mkdocs.yml").write_text(text.replace("plugins:\n", "plugins:\n- search\n"))
    result = mkdocs_build(site)
    assert result.returncode == 0, result.stderr
    index = json.loads((site.site_dir / "search" / "search_index.json").read_text())
    words = " ".join(doc["text"] for doc in index["docs"])
    assert "A kite for search" in words and "AI-generatedA" not in words


HEAVY = """# Everything at once

!!! note "An admonition"
    <!-- @video-gen Clip in an admonition -->

??? tip "A collapsible block"
    <!-- @video-gen Clip in a collapsible block -->

=== "Tab one"

    <!-- @video-gen Clip in a content tab -->

=== "Tab two"

    ```video-gen
    prompt: Fenced clip in a content tab
    ```

<div class="grid cards" markdown>

-   __A card__

    <!-- @video-gen Clip in a grid card -->

-   __Another card__

    Plain text.

</div>

<div markdown>
<!-- @video-gen Clip in an md_in_html block -->
</div>

1.  A list item

    <!-- @video-gen Clip in a list continuation -->

```mermaid
graph LR
  A --> B
```

<!-- @video-gen Clip next to a mermaid fence -->

```markdown
<!-- @video-gen Not a clip: an example in code -->
```
"""

HEAVY_CONFIG = {
    "theme": {"name": "material", "features": ["content.tabs.link"]},
    "markdown_extensions": [
        "admonition",
        "attr_list",
        "md_in_html",
        "pymdownx.details",
        {"pymdownx.tabbed": {"alternate_style": True}},
        {
            "pymdownx.superfences": {
                "custom_fences": [
                    {
                        "name": "mermaid",
                        "class": "mermaid",
                        "format": "!!python/name:pymdownx.superfences.fence_code_format",
                    }
                ]
            }
        },
    ],
}


def test_an_extension_heavy_material_site_gets_exactly_one_clip_per_directive(site: Site):
    site.options.update(TINY)
    site.config.update(HEAVY_CONFIG)
    site.page("index.md", HEAVY)
    site.write_config()
    config = site.root / "mkdocs.yml"
    config.write_text(config.read_text().replace("'!!python/name:pymdownx.superfences.fence_code_format'",
                                                 "!!python/name:pymdownx.superfences.fence_code_format"))  # fmt: skip
    result = mkdocs_build(site, "--strict")
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    prompts = re.findall(r'<figure class="wan-video"[^>]*data-prompt="([^"]+)"', html)
    expected = [
        line.split("@video-gen ")[1].split(" -->")[0] for line in HEAVY.splitlines() if "@video-gen Clip" in line
    ]
    assert sorted(prompts) == sorted([*expected, "Fenced clip in a content tab"])
    assert "Not a clip" in html and 'Not a clip: an example in code" ' not in html
    assert_playable(site.site_dir / "index.html", videos(html))
    for container, prompt in (
        ('<div class="admonition note"', "Clip in an admonition"),
        ("<details", "Clip in a collapsible block"),
        ('<div class="tabbed-block"', "Clip in a content tab"),
        ('<div class="grid cards"', "Clip in a grid card"),
        ("<li>", "Clip in a list continuation"),
    ):
        before = html[: html.index(f'data-prompt="{prompt}"')]
        tag = container[1:].split()[0].rstrip(">")
        assert before.rfind(container) > before.rfind(f"</{tag}>"), prompt  # still inside it
    assert '<pre class="mermaid"><code>graph LR' in html


def test_mkdocs_static_i18n_gets_a_clip_in_every_language(site: Site):
    """i18n builds the site once per language and expects every File to have a source path."""
    pytest.importorskip("mkdocs_static_i18n")
    site.options.update(TINY)
    site.config["theme"] = {"name": "material"}
    site.page("index.md", "# Home\n\n<!-- @video-gen A kite -->\n")
    site.page("index.fr.md", "# Accueil\n\n<!-- @video-gen Un cerf-volant -->\n")
    site.write_config()
    languages = "- search\n- i18n:\n    docs_structure: suffix\n    languages:\n"
    languages += "    - {locale: en, default: true, name: English}\n    - {locale: fr, name: Francais}\n"
    config = site.root / "mkdocs.yml"
    config.write_text(config.read_text().replace("plugins:\n", f"plugins:\n{languages}"))
    result = mkdocs_build(site, "--strict")
    assert result.returncode == 0, result.stderr
    for page, prompt in (("index.html", "A kite"), ("fr/index.html", "Un cerf-volant")):
        html = (site.site_dir / page).read_text()
        assert f'data-prompt="{prompt}"' in html
        assert_playable(site.site_dir / page, videos(html))


def test_a_directive_in_a_docstring_is_named_by_its_mkdocstrings_line(site: Site):
    """mkdocstrings renders a docstring where `::: object` stands: a directive in it is named by
    that line (the page has no line of its own for it), and a live directive after it keeps its own.
    With several blocks, by the block it was rendered in: here `::: kites` renders both functions,
    and `## ::: kites.land` renders `land` a second time; a `:::` line shown as code is no block."""
    pytest.importorskip("mkdocstrings", reason="mkdocstrings[python] is part of the test extra")
    site.options.update(TINY)
    (site.root / "kites.py").write_text(
        '"""Kites."""\n\n\ndef fly() -> None:\n    """Fly a kite.\n\n'
        '    <!-- @video-gen A kite from a docstring {frames=ten} -->\n    """\n\n\n'
        'def land() -> None:\n    """Land a kite.\n\n    <!-- @video-gen A landing kite {frames=eleven} -->\n\n'
        '    <!-- @video-gen Another landing kite {frames=twelve} -->\n    """\n'
    )
    site.config["plugins"] = [{"mkdocstrings": {"handlers": {"python": {"paths": ["."]}}}}]
    blocks = "::: kites\n\nLanding again:\n\n## ::: kites.land"  # the heading form too
    example = "To show `fly` alone, write:\n\n    ::: kites.fly\n"  # an indented code block: not a block
    site.page("api.md", f"# API\n\nIntro.\n\n{blocks}\n\n<!-- @video-gen A live kite {{steps=0}} -->\n\n{example}")
    result = site.build()
    assert result.returncode == 0, result.stderr
    named = re.findall(r"api\.md:(\d+): (?:frames must be an integer, got '(\w+)'|(steps) must be)", result.stderr)
    assert [(int(line), frames or steps) for line, frames, steps in named] == [
        (5, "ten"), (5, "eleven"), (5, "twelve"), (9, "eleven"), (9, "twelve"), (11, "steps")
    ], result.stderr  # fmt: skip


class _BlockInParagraph(HTMLParser):
    """Every block element opened inside a `<p>` (invalid HTML: a parser closes the paragraph there)."""

    BLOCKS = frozenset({"figure", "div", "p", "ul", "ol", "table", "blockquote", "figcaption", "h1", "h2", "h3", "pre"})
    VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.wrong: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS and "p" in self.stack:
            self.wrong.append(f"<{tag}> in <p> under {self.stack[-4:]}")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


def _built_article(site: Site, end: Callable[[str], int]) -> str:
    """The built index page from its `<h1>` up to `end(html)`."""
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.root / "site" / "index.html").read_text()
    return html[html.index("<h1") : end(html)]


def test_a_clip_in_running_text_or_a_footnote_is_valid_html_and_moves_nothing(site: Site):
    """A clip is block content: where its directive stands inside a paragraph (running text, a list
    item's text, a footnote, inside <em>) the paragraph closes before it and opens again after it,
    with no empty paragraph left, and a footnote's ↩ link stays in its footnote; one in a heading
    comes right after the heading."""
    site.options.update({**TINY, "generate": "never"})
    site.config["markdown_extensions"] = ["footnotes", "attr_list"]
    site.page(
        "index.md",
        "# Notes\n\nA lead <!-- @video-gen A kite in a styled paragraph --> after.\n{: .lead #intro }\n\n"
        "A claim[^1] and <!-- @video-gen A kite in running text --> in the middle.\n\n"
        "<!-- @video-gen A kite standing alone -->\n\n- An item with <!-- @video-gen A kite in a list item -->\n\n"
        "Starts <!-- @video-gen A kite {frames=ten} -->\n\n"
        "Start *emph <!-- @video-gen A kite in em --> more* end\n\n**bold <!-- @video-gen A kite in strong -->**\n\n"
        "Two <!-- @video-gen A first inline kite --> <!-- @video-gen A second inline kite --> done.\n\n"
        "## Kites <!-- @video-gen A kite in a heading -->\n\n"
        "[^1]: The note shows <!-- @video-gen A kite in a footnote -->\n",
    )
    article = _built_article(site, lambda html: html.index('<div class="footnote">') + 2000)
    checker = _BlockInParagraph()
    checker.feed(article)
    assert checker.wrong == [], checker.wrong
    assert not re.search(r"<p>\s*</p>", article), article
    assert article.count('class="wan-video') == 10 and "wan-video-error" in article
    assert "<p>A claim" in article and "</p><figure" in article and "</figure><p> in the middle.</p>" in article
    # Inline elements open at the clip close and reopen with the paragraph; nothing is left empty.
    shown = re.sub(r"<figure.*?</figure>|<div class=\"admonition.*?</div>", "CLIP", article, flags=re.S)
    assert "<p>Start <em>emph </em></p>CLIP<p><em> more</em> end</p>" in shown, shown
    assert '<h2 id="kites">Kites </h2>CLIP' in shown, shown  # a heading holds text only: the clip follows it
    # A styled paragraph goes on styled; its id stays on the first part (ids are unique).
    assert '<p class="lead" id="intro">A lead </p>CLIP<p class="lead"> after.</p>' in shown, shown
    assert "<p><strong>bold </strong></p>CLIP\n" in shown and "<p>Two </p>CLIPCLIP<p> done.</p>" in shown, shown
    note = article[article.index('<li id="fn:1">') :]
    note = note[: note.index("</li>")]
    assert "A kite in a footnote" in note and "footnote-backref" in note, note  # the ↩ stays in its footnote


def test_a_split_paragraph_keeps_its_attributes_its_ids_once_and_every_picture(site: Site):
    """Where a clip splits a paragraph, each part keeps the paragraph's (and open elements')
    attributes; an id goes on the first part written, wherever that is; a `>` in an attribute
    value does not end its tag; a picture is content (never dropped as "empty"); a trailing
    line break leaves no empty paragraph behind."""
    site.options.update({**TINY, "generate": "never"})
    site.config["markdown_extensions"] = ["attr_list"]
    site.page(
        "index.md",
        "# T\n\n"
        '<p data-x=">" id="z" class="q">dq <!-- @video-gen A kite in a quoted bracket --> after</p>\n\n'
        "[<!-- @video-gen A kite starting a link --> link](http://e.com){: #lnk .c } rest\n\n"
        "**<!-- @video-gen A kite starting bold --> bold** rest\n{: .b #pb }\n\n"
        "A <!-- @video-gen A kite before a picture --> ![i](x.png) <!-- @video-gen A kite after a picture --> B\n"
        "{: .ii #iid }\n\n"
        "Text <!-- @video-gen A kite before a line break -->  \n{: .br }\n\n"
        '<p class="a"id="glued">g <!-- @video-gen A kite in a glued tag --> h</p>\n',
    )
    article = _built_article(site, lambda html: html.index(" h</p>") + 6)
    shown = re.sub(r"<(figure|div) class=\"(?:wan-video|admonition)[^\"]*\".*?</\1>", "CLIP", article, flags=re.S)
    assert shown.count("CLIP") == 7, shown
    assert '<p data-x=">" id="z" class="q">dq </p>CLIP<p data-x=">" class="q"> after</p>' in shown, shown
    assert 'CLIP<p><a class="c" href="http://e.com" id="lnk"> link</a> rest</p>' in shown, shown
    assert 'CLIP<p class="b" id="pb"><strong> bold</strong> rest</p>' in shown, shown
    picture = '<p class="ii" id="iid">A </p>CLIP<p class="ii"> <img alt="i" src="x.png" /> </p>CLIP<p class="ii"> B</p>'
    assert picture in shown, shown
    assert '<p class="br">Text </p>CLIP\n' in shown, shown
    assert '<p class="a"id="glued">g </p>CLIP<p class="a"> h</p>' in shown, shown
    ids = re.findall(r'\bid="([^"]+)"', article)
    assert len(ids) == len(set(ids)), ids


def test_only_pages_with_a_clip_link_the_assets_unless_material_navigates_instantly(site: Site):
    """A page without a clip (the 404 page too) is byte for byte what it is without the plugin.
    Material's instant navigation loads a page's content without its `<head>`: there every page
    links the assets, so a clip reached from a page without one is still styled."""
    site.options.update({**TINY, "generate": "never"})
    site.page("index.md", '# Home\n\nNo clip here, only its markup:\n\n```html\n<figure class="wan-video">\n```\n')
    site.page("clip/page.md", "# Clip\n\n<!-- @video-gen A kite -->\n\nSee `assets/stylesheets/mkdocs-wan.css`.\n")
    assert site.build().returncode == 0
    with_plugin = {name: (site.site_dir / name).read_text() for name in ("index.html", "404.html")}
    clip = (site.site_dir / "clip" / "page" / "index.html").read_text()
    assert clip.count('href="../../assets/stylesheets/mkdocs-wan.css"') == 1
    assert clip.count('src="../../assets/javascripts/mkdocs-wan.js"') == 1
    (site.root / "mkdocs.yml").write_text(yaml.safe_dump({**site.config, "plugins": []}))
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=site.root, env=site.env(),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    dated = re.compile(r"Build Date UTC : .*")
    for name, html in with_plugin.items():
        assert dated.sub("", html) == dated.sub("", (site.site_dir / name).read_text()), name

    site.config["theme"] = {"name": "material", "features": ["navigation.instant"]}
    assert site.build().returncode == 0
    for name in ("index.html", "404.html", "clip/page/index.html"):
        assert (site.site_dir / name).read_text().count('mkdocs-wan.css"') == 1, name


def test_a_directive_a_macro_writes_is_named_by_the_macros_line(site: Site):
    """A directive that mkdocs-macros writes (a macro, an include) has no line of its own: it is
    named by the line of the `{{ … }}` or `{% … %}` that wrote it, not by the next real directive."""
    pytest.importorskip("mkdocs_macros", reason="mkdocs-macros-plugin is part of the test extra")
    site.options.update(TINY)
    site.config["plugins"] = ["macros"]
    (site.root / "main.py").write_text(
        "def define_env(env):\n    @env.macro\n    def clip(prompt):\n"
        "        return '<!-- @video-gen ' + prompt + ' {frames=ten} -->'\n"
    )
    (site.root / "docs" / "parts").mkdir(parents=True)
    (site.root / "docs" / "parts" / "inc.md").write_text("<!-- @video-gen An included kite {steps=0} -->\n")
    site.page("index.md", '# Home\n\n{% include "parts/inc.md" %}\n\nText.\n\n{{ clip("A macro kite") }}\n\n'
                          "<!-- @video-gen A real kite {size=big} -->\n")  # fmt: skip
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "index.md:3: steps must be between 1 and" in result.stderr, result.stderr
    assert "index.md:7: frames must be an integer, got 'ten'" in result.stderr, result.stderr
    assert "index.md:9: size" in result.stderr, result.stderr
