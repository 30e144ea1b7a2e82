"""Finding directives in rendered pages: both forms, code placements, options, lines."""

from __future__ import annotations

import pytest

from mkdocs_wan.page.directives import DirectiveError, parse_options

pytestmark = pytest.mark.timeout(60)  # unit tests: seconds, not minutes


def test_comment_directive_found_with_line(directives):
    found = directives(
        """\
        # Title

        Some text.

        <!-- @video-gen A robot arm assembling a smartphone -->
        """
    )
    assert [(d.kind, d.line) for d in found] == [("comment", 5)]
    assert parse_options(found[0]) == {"prompt": "A robot arm assembling a smartphone"}


def test_comment_options_and_quoted_values(directives):
    (found,) = directives(
        "<!-- @video-gen A kite in the wind {seed=7 frames=49 size=1280x704 fps=24 steps=30 "
        'guidance=5.0 caption="A kite, close up"} -->\n'
    )
    assert parse_options(found) == {
        "prompt": "A kite in the wind",
        "seed": "7",
        "frames": "49",
        "size": "1280x704",
        "fps": "24",
        "steps": "30",
        "guidance": "5.0",
        "caption": "A kite, close up",
    }


def test_multiline_comment_prompt_is_normalised(directives):
    (found,) = directives("<!-- @video-gen A slow\n   pan over a city -->\n")
    assert parse_options(found)["prompt"] == "A slow pan over a city"


def test_fenced_directive_found_with_line(directives):
    found = directives(
        """\
        Intro

        ```video-gen
        prompt: A kite in the wind
        seed: 7
        frames: 49
        ```
        """
    )
    assert [(d.kind, d.line) for d in found] == [("fence", 3)]
    assert parse_options(found[0]) == {"prompt": "A kite in the wind", "seed": 7, "frames": 49}


def test_tilde_fenced_directive(directives):
    (found,) = directives("~~~video-gen\nprompt: Rain on a window\n~~~\n")
    assert parse_options(found)["prompt"] == "Rain on a window"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("```\n<!-- @video-gen in a fence -->\n```\n", id="backtick-fence"),
        pytest.param("~~~html\n<!-- @video-gen in a tilde fence -->\n~~~\n", id="tilde-fence"),
        pytest.param("Para.\n\n    <!-- @video-gen indented code -->\n", id="indented"),
        pytest.param("Use `<!-- @video-gen inline code -->` like this.\n", id="inline-code"),
        pytest.param("````markdown\n```video-gen\nprompt: example\n```\n````\n", id="fence-nested-in-longer-fence"),
        pytest.param("````markdown\n<!-- @video-gen example comment -->\n````\n", id="comment-in-markdown-fence"),
        pytest.param("~~~~\n~~~video-gen\nprompt: x\n~~~\n~~~~\n", id="tilde-nested"),
    ],
)
def test_directives_in_code_stay_text(render, directives, text):
    assert directives(text) == []
    assert "video-gen" in render(text)  # still shown to readers as documentation


def test_directives_inside_admonitions_lists_and_tabs(directives):
    found = directives(
        """\
        !!! note
            <!-- @video-gen In an admonition -->

        - item

            ```video-gen
            prompt: In a list
            ```

        === "Tab"

            <!-- @video-gen In a tab -->
        """
    )
    prompts = [parse_options(d)["prompt"] for d in found]
    assert prompts == ["In an admonition", "In a list", "In a tab"]
    assert [d.line for d in found] == [2, 6, 12]


def test_live_directive_after_identical_syntax_example_gets_its_own_line(directives):
    found = directives(
        """\
        Write this:

        ```markdown
        <!-- @video-gen A kite -->
        ```

        `<!-- @video-gen A kite -->` renders as:

        <!-- @video-gen A kite -->
        """
    )
    assert [d.line for d in found] == [9]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- @video-gen A kite {seed=7 -->", "unclosed '{'"),
        ('<!-- @video-gen A kite {caption="open} -->', "No closing quotation"),
        ("<!-- @video-gen A kite {seed} -->", "expected option=value"),
        ("<!-- @video-gen A kite {seed=1 seed=2} -->", "given twice"),
        ("<!-- @video-gen A kite {prompt=x} -->", "before the braces"),
    ],
)
def test_malformed_comment_options(directives, text, message):
    (found,) = directives(text + "\n")
    with pytest.raises(DirectiveError, match=message):
        parse_options(found)


def test_bad_yaml_reports_line_inside_block(directives):
    (found,) = directives("Intro\n\n```video-gen\nprompt: ok\nseed: [1, 2\n```\n")
    with pytest.raises(DirectiveError, match="invalid YAML") as info:
        parse_options(found)
    assert found.line + info.value.line_offset in (5, 6)  # PyYAML marks the end of the flow list


def test_yaml_must_be_a_mapping(directives):
    (found,) = directives("```video-gen\n- a\n- b\n```\n")
    with pytest.raises(DirectiveError, match="YAML mapping"):
        parse_options(found)


def test_not_a_directive_without_separator(directives):
    assert directives("<!-- @video-generator nope -->\n<!-- video-gen nope -->\n") == []


def _split(html: str) -> str:
    """The page as the engine writes it around its clips ("[C]"), from the engine's own pieces."""
    from mkdocs_wan.page.directives import find_directives
    from mkdocs_wan.page.paragraphs import Splitter

    splitter, out, end = Splitter(html), [], 0
    for directive in find_directives(html):
        placed, end = splitter.place(end, directive.start, directive.end, "[C]")
        out.append(placed)
    return "".join(out) + splitter.rest(end)


#: (page, the page written around its clips): a tag written inside a comment is text, nothing to
#: close before the clip or open after it; but a `<!--` in an attribute value, in a <textarea> or as
#: the empty comment `<!-->` opens no comment; and a paragraph in an attribute value is no paragraph.
SPLITS = [
    ("<p>text <!-- TODO: <b> --> more <!-- @video-gen x --> end</p>",
     "<p>text <!-- TODO: <b> --> more </p>[C]<p> end</p>"),
    ("<!-- @video-gen <P -->\n\n<!-- @video-gen b -->", "[C]\n\n[C]"),
    ('<p>a <em title="<!--">b <!-- @video-gen k --> c</em></p>',
     '<p>a <em title="<!--">b </em></p>[C]<p><em title="<!--"> c</em></p>'),
    ("<p><textarea><!--</textarea> x <em>y <!-- @video-gen k --> z</em></p>",
     "<p><textarea><!--</textarea> x <em>y </em></p>[C]<p><em> z</em></p>"),
    ("<p><!--> <em>y <!-- @video-gen k --> z</em></p>", "<p><!--> <em>y </em></p>[C]<p><em> z</em></p>"),
    ('<img alt="<p><!-- @video-gen x --></p>">', '<img alt="<p><!-- @video-gen x --></p>">'),
    # a quote left open in a comment does not hide the tags after the comment
    ('<p>Say <!-- TODO <a href=" --> then <em>a 12" screen<br />\nwith more <!-- @video-gen b --> here</em> end.</p>',
     '<p>Say <!-- TODO <a href=" --> then <em>a 12" screen<br />\nwith more </em></p>[C]<p><em> here</em> end.</p>'),
    # several clips in one paragraph: the elements open at each are read on from the one before
    ('<p>a <em>b <!-- @video-gen 1 --> c</em> d <a href="#">e <!-- @video-gen 2 --> f</a> g</p>',
     '<p>a <em>b </em></p>[C]<p><em> c</em> d <a href="#">e </a></p>[C]<p><a href="#"> f</a> g</p>'),
    ("<p><em>a <!-- @video-gen 1 --> b <strong>c <!-- @video-gen 2 --> d</strong> e <!-- @video-gen 3 --> f</em></p>",
     "<p><em>a </em></p>[C]<p><em> b <strong>c </strong></em></p>[C]<p><em><strong> d</strong> e </em></p>[C]"
     "<p><em> f</em></p>"),
]  # fmt: skip


@pytest.mark.parametrize(("html", "expected"), SPLITS)
def test_a_clip_splits_only_the_paragraph_and_elements_a_browser_sees(html: str, expected: str) -> None:
    assert _split(html) == expected


def test_a_paragraph_of_thousands_of_clips_is_read_once() -> None:
    """Each clip in a paragraph closes the elements open at it: they were read again from the
    paragraph's start for every clip (16,000 in one paragraph: 5.6 s of a 12 s build)."""
    import time

    def seconds(count: int) -> float:
        html = "<p>" + "".join(f"<em>a</em> <b>b</b> <i>t {i} <!-- @video-gen c {i} --> u</i> " for i in range(count))
        started = time.perf_counter()
        out = _split(html + "</p>")
        assert out.count("[C]") == count and out.count("<p><i> u</i>") == count
        return time.perf_counter() - started

    small, large = (min(seconds(count) for _ in range(3)) for count in (300, 4_800))  # best of 3: a busy machine
    assert large < 60 * small + 0.1  # sixteen times the clips: about sixteen times the time, not 256


def test_directives_no_source_has_are_placed_in_n_log_n() -> None:
    """Directives a macro writes (none in the page's source) were each looked for by a walk to the
    end of the page's candidates: 8,000 of them beside 8,000 live ones took seconds."""
    import time

    from mkdocs_wan.page.directives import find_directives

    def seconds(count: int) -> float:
        source = "".join(f"<!-- @video-gen Live {i} -->\n\n{{{{ macro({i}) }}}}\n\n" for i in range(count))
        html = "".join(f"<!-- @video-gen Live {i} -->\n<p><!-- @video-gen Macro {i} --></p>\n" for i in range(count))
        started = time.perf_counter()
        found = find_directives(html, "# Page\n\n" + source)
        took = time.perf_counter() - started
        assert [d.line for d in found[-4:]] == [4 * count - 5, 4 * count - 3, 4 * count - 1, 4 * count + 1]
        return took

    small, large = (min(seconds(count) for _ in range(3)) for count in (250, 4_000))  # best of 3: a busy machine
    assert large < 50 * small + 0.05  # sixteen times the directives: not 256 times the time


def test_directives_on_one_long_line_are_read_in_linear_time() -> None:
    """Whether a directive stands after an odd number of backticks (in code) was counted from its
    line's start for each: thousands on one line were quadratic."""
    import time

    from mkdocs_wan.page.directives import find_directives

    def seconds(count: int) -> float:
        source = (
            "# P\n\n" + " ".join(f"a `x` <!-- @video-gen C {i} --> b" for i in range(count)) + " `<!-- @video-gen no`\n"
        )
        html = "<p>" + source[5:].replace("`x`", "<code>x</code>").replace("`<!", "<code>&lt;!").replace(
            "no`", "no</code>"
        )
        started = time.perf_counter()
        found = find_directives(html, source)
        took = time.perf_counter() - started
        assert len(found) == count and {d.line for d in found} == {3}
        return took

    small, large = (min(seconds(count) for _ in range(3)) for count in (500, 8_000))  # best of 3: a busy machine
    assert large < 50 * small + 0.05  # sixteen times the directives: not 256 times the time
