"""The mistakes a newcomer makes in the first hour each get their own one-line message with the fix."""

from __future__ import annotations

import re

import pytest
from conftest import summary

from mkdocs_wan.models.families import FamilyError
from mkdocs_wan.models.reference import ModelRef


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tiy", "tiy is not `tiny`, a folder, or a Hub id (ORG/NAME); did you mean `tiny`?"),
        (
            "Wan-AI/Wan2.2-TI2V-5B",
            "holds Wan's original weights, which diffusers cannot load; use Wan-AI/Wan2.2-TI2V-5B-Di",
        ),
        ("./not-here", "./not-here: no such folder ("),
        ("someone/own-model", "is not downloaded and not a known Wan checkpoint"),
    ],
)
def test_each_wrong_model_name_gets_its_own_fix(name, message, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FamilyError) as err:
        ModelRef.resolve(name, tmp_path).family()
    assert message in str(err.value)
    assert "local_files_only" not in str(err.value)


def test_a_downloaded_repository_that_is_not_a_diffusers_pipeline_says_so(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    snapshot = hub / "models--someone--raw-weights" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (hub / "models--someone--raw-weights" / "refs").mkdir()
    (hub / "models--someone--raw-weights" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    with pytest.raises(FamilyError, match="is downloaded but is not a diffusers pipeline"):
        ModelRef.resolve("someone/raw-weights", tmp_path).family()


def test_a_misspelt_site_option_stops_the_build_with_a_did_you_mean(site):
    site.options["framse"] = 17
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Plugin 'wan' option 'framse': unknown option (did you mean frames? known: model," in result.stderr
    assert not (site.root / "site").exists()  # stopped before any page or model work


def test_the_summary_counts_one_clip_in_the_singular(site):
    site.page("index.md", "<!-- @video-gen A single kite -->\n")
    result = site.build()
    assert "mkdocs_wan: 1 clip (" in result.stderr and "1 clips" not in result.stderr
    assert re.search(r"step 2/2, [\d.]+ s elapsed, ETA [\d.]+ s; decoding and encoding the clip", result.stderr)


def test_near_misses_and_unclosed_directives_are_warned_with_their_line_and_fail_strict(site):
    site.page(
        "index.md",
        "# Clips\n\n<!-- @video-gen A kite\n\nText.\n\n<!-- video-gen A dog -->\n\n<!-- @Video-Gen A cat -->\n\n"
        "```videogen\nprompt: a cow\n```\n\n`<!-- video-gen shown as code -->` and <!-- a plain comment -->\n",
    )
    result = site.build("--strict")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    warned = [line.split("mkdocs_wan: ", 1)[1] for line in result.stderr.splitlines() if "mkdocs_wan: index.md" in line]
    assert warned == [
        "index.md:3: this directive's comment is never closed, so it would hide the rest of the page: end it with -->",
        "index.md:7: 'video-gen' is not a directive: write <!-- @video-gen PROMPT -->",
        "index.md:9: '@Video-Gen' is not a directive: write <!-- @video-gen PROMPT -->",
        "index.md:11: a 'videogen' code block is not a directive: name the fence video-gen",
    ]


@pytest.mark.parametrize("extensions", [["pymdownx.superfences"], []])
def test_a_misnamed_fence_is_warned_once_at_its_line_with_or_without_superfences(site, extensions):
    """SuperFences (every Material site) renders ```video_gen as plain code without its name: the
    source says it. An example of one inside other code is documentation."""
    site.config["markdown_extensions"] = extensions
    site.options["generate"] = "never"
    site.page("index.md", "# Clips\n\nNo word of it in the page.\n\n```video_gen\nprompt: a cow\n```\n")
    site.page("syntax.md", "# Syntax\n\n````markdown\n```videogen\nprompt: an example\n```\n````\n\n    ```Video-Gen\n")
    result = site.build("--strict")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    warned = [line.split("mkdocs_wan: ", 1)[1] for line in result.stderr.splitlines() if ".md:" in line]
    assert warned == ["index.md:5: a 'video_gen' code block is not a directive: name the fence video-gen"]


def test_directive_mistakes_get_messages_that_say_the_fix(site):
    from PIL import Image

    (site.root / "docs" / "pics").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(site.root / "docs" / "pics" / "Start.png")
    site.page(
        "index.md",
        "# T\n\n<!-- @video-gen A kite {caption=A red kite} -->\n\n<!-- @video-gen B {image=pics} -->\n\n"
        "<!-- @video-gen C {image=pics/start.png} -->\n\n"
        "```video-gen\nsegments:\n  - prompt: a\n    frames: 17\n  - prompt: b\n    frames: 9\ntransition: 20\n```\n\n"
        "<!-- @video-gen D {image=pics/Stat.png} -->\n",
    )
    site.options["generate"] = "never"
    result = site.build()
    warned = [line.split("mkdocs_wan: ", 1)[1] for line in result.stderr.splitlines() if "mkdocs_wan: index.md" in line]
    assert warned == [
        "index.md:3: expected option=value in the braces, got 'red'; a value with spaces needs quotes: "
        'caption="A red kite"',
        "index.md:5: image 'pics' is a folder (pics in docs_dir), not a picture; name the picture file in it",
        "index.md:7: image 'pics/start.png' not found: did you mean 'pics/Start.png'? File names are case-sensitive "
        "(looked for pics/start.png in docs_dir)",
        "index.md:9: transition must be between 0 and 8 (fewer frames than the shortest segment's 9), got 20",
        "index.md:18: image 'pics/Stat.png' not found: did you mean 'pics/Start.png'? (looked for pics/Stat.png in "
        "docs_dir)",  # a typo gets the nearest name, too
    ]


def test_a_fenced_blocks_mistake_names_the_line_of_its_key(site):
    site.options["generate"] = "never"
    site.page(
        "index.md",
        "# T\n\n```video-gen\nsegments:\n  - prompt: a\n    frames: 9\n  - prompt: b\n    colour: red\n```\n\n"
        "```video-gen\nprompt: x\nsize: 64x64\ncolor: red\n```\n\n```video-gen\nprompt: y\nframes: ten\n```\n",
    )
    warned = [line.split("mkdocs_wan: ", 1)[1].split(" (")[0] for line in site.build().stderr.splitlines()
              if "mkdocs_wan: index.md" in line]  # fmt: skip
    assert warned == [
        "index.md:8: segment 2 must be a prompt or a mapping with prompt and frames",
        "index.md:14: unknown option 'color'",
        "index.md:19: frames must be an integer, got 'ten'",
    ]


def test_a_directive_never_closed_is_closed_for_the_reader_who_keeps_the_rest_of_the_page(site):
    """Without its `-->` a directive would hide everything up to the next comment's end. A build
    that goes on anyway (not --strict) shows a note where it stands and every line after it, and
    makes no clip of it: under `mkdocs serve` it may be half typed."""
    site.options["generate"] = "never"
    page = "# Home\n\n<!-- @video-gen A kite I forgot to close\n\n## Next heading\n\nSome text.\n\n"
    site.page("index.md", page + "<!-- @video-gen A 2nd kite -->\n\nMore text.\n\n<!-- @video-gen The last one\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    assert '<h2 id="next-heading">Next heading</h2>' in html and "<p>Some text.</p>" in html
    assert "<p>More text.</p>" in html and 'aria-label="Clip not generated: A 2nd kite"' in html
    notes = re.findall(r"<code>(index\.md:\d+)</code>: this directive&#x27;s comment is never closed", html)
    assert notes == ["index.md:3", "index.md:13"], html
    assert "A kite I forgot" not in html.replace("<!--", "")  # no clip, no placeholder of it
    assert summary("1 clip (MB), 0 generated, 0 cached, 1 missing (generate: never)", result.stderr), result.stderr


def test_a_never_closed_directive_in_a_list_or_an_admonition_is_closed_there_but_indented_code_is_not(site):
    """Lists and admonitions indent their content by 4 spaces, as an indented code block is: the
    line above tells them apart (a list item, `!!!`, or a paragraph with a blank line after it)."""
    site.options["generate"] = "never"
    site.config["markdown_extensions"] = ["admonition"]
    site.page("index.md", "# Home\n\n- A step:\n\n    <!-- @video-gen A kite in a list\n\n## Next\n\nText.\n\n"
                          "!!! note\n\n    <!-- @video-gen A kite in a note\n\nAfter the note.\n\n"
                          "Para.\n\n    <!-- @video-gen shown as code\n\nEnd.\n\n"
                          "- In a list:\n\n        <!-- @video-gen code in a list\n\n"  # 8 spaces: code there
                          "# A heading\n    <!-- @video-gen code under a heading\n\n"
                          "Configure:\n\n    nav:\n      - Home: index.md\n\n"
                          "    <!-- @video-gen code after a list line\n\n"
                          "1) Not a list\n\n    <!-- @video-gen code after 1)\n\n"
                          "> Quoted:\n>\n>     <!-- @video-gen code in a quote\n")  # fmt: skip
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    notes = re.findall(r"<code>(index\.md:\d+)</code>: this directive&#x27;s comment is never closed", html)
    assert notes == ["index.md:5", "index.md:13"], html
    assert re.search(r"<li>\s*<p>A step:</p>\s*<div class=\"admonition failure wan-video-error\"", html), html
    assert '<h2 id="next">Next</h2>' in html and "<p>After the note.</p>" in html and "<p>End.</p>" in html
    assert "<pre><code>&lt;!-- @video-gen shown as code\n</code></pre>" in html
    for example in ("in a list", "under a heading", "after a list line", "after 1)", "in a quote"):
        assert f"&lt;!-- @video-gen code {example}\n</code></pre>" in html, example  # code untouched
    assert "\ue0ff" not in html
    assert result.stderr.count("never closed") == 2, result.stderr


def test_never_closed_is_said_by_the_page_itself_and_never_touches_code(site):
    """The note goes to the directive that was never closed, not to a closed one on its line; a
    never-closed directive from a snippet is one too (no half-typed clip); the `-->` it gets never
    lands inside a code block after it, nor does an opener inside a code span spanning lines count."""
    site.options["generate"] = "never"
    site.config["markdown_extensions"] = [{"pymdownx.snippets": {"base_path": ["snippets"]}}]
    (site.root / "snippets").mkdir(parents=True)
    (site.root / "snippets" / "s.md").write_text("Snippet.\n\n<!-- @video-gen half typed in a snippet\n\nSNIPTAIL\n")
    site.page("index.md", "A\n\n<!-- @video-gen A closed kite --> text <!-- @video-gen B unclosed\n\nTAIL\n\n"
                          '--8<-- "s.md"\n\n<!-- @video-gen before a fence\n```\nx\n\ny\n```\n\n'
                          "A `code\n<!-- @video-gen in a code span` end\n")  # fmt: skip
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    assert 'aria-label="Clip not generated: A closed kite"' in html, html
    assert result.stderr.count("never closed") == 3, result.stderr  # B, the snippet's, the one before the fence
    assert "snippets/s.md:3: this directive's comment is never closed" in result.stderr, result.stderr
    assert "clip not in the cache and `generate: never`: half typed" not in result.stderr
    assert "TAIL" in html and "SNIPTAIL" in html and "<code>x\n\ny\n</code>" in html  # the code is untouched
    assert "<code>code\n&lt;!-- @video-gen in a code span</code> end" in html


def test_the_same_mistake_twice_is_warned_at_each_of_its_lines(site):
    site.page("index.md", "# Clips\n\nOne <!-- @video-gen A kite\n\nTwo <!-- @video-gen A kite\n")
    result = site.build()
    warned = [line.split("mkdocs_wan: ", 1)[1][:12] for line in result.stderr.splitlines() if "never closed" in line]
    assert warned == ["index.md:3: ", "index.md:5: "]
