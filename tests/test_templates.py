"""Prompt templates and the content policy, in real `mkdocs build`s with the tiny model."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
from conftest import Site, summary

from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.page.policy import normal_form, parse_policy
from mkdocs_wan.page.spec import SpecError
from mkdocs_wan.page.templates import parse_templates

TEMPLATES = {
    "product": {"prompt": "A {color} {name} on a white turntable", "frames": 5, "caption": "The {name}"},
    "scene": "A {place} at dawn",
}
NO_TORCH = "print('heavy', sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"


def labels(page: str) -> list[str]:
    return [html.unescape(label) for label in re.findall(r'<video[^>]*aria-label="([^"]*)"', page)]


def test_a_template_edit_regenerates_exactly_the_clips_whose_prompt_changed(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    site.page("index.md", '# A\n\n<!-- @video-gen {template=product name="wireless earbuds" color=black} -->\n')
    site.page("b.md", '# B\n\n<!-- @video-gen {template=product name="smart watch" color=silver} -->\n')
    site.page("c.md", '# C\n\n```video-gen\ntemplate: product\nname: "phone {case}"\ncolor: "7"\n```\n')
    site.page("d.md", '# D\n\n<!-- @video-gen {template=scene place="harbour"} -->\n')
    first = site.build("--strict")
    assert first.returncode == 0, first.stderr
    assert summary("4 clips (MB), 4 generated, 0 cached", first.stderr), first.stderr
    page = (site.site_dir / "c" / "index.html").read_text()
    # A value's braces are text, a YAML number is its digits; the template's caption and frames apply.
    assert labels(page) == ["Generated clip: A 7 phone {case} on a white turntable"]
    assert "<figcaption" in page and "The phone {case}" in html.unescape(page)
    (key,) = re.findall(r'data-wan-key="(\w+)"', page)
    assert count_frames(site.site_dir / "assets" / "videos" / f"{key}.mp4") == 5

    site.options["templates"] = {**TEMPLATES, "product": {**TEMPLATES["product"], "prompt": "A {color} {name}"}}
    second = site.build("--strict")
    assert second.returncode == 0, second.stderr
    assert summary("4 clips (MB), 3 generated, 1 cached", second.stderr), second.stderr
    index = (site.site_dir / "index.html").read_text()
    assert labels(index) == ["Generated clip: A black wireless earbuds"]


def test_template_mistakes_are_page_line_warnings_before_any_model_work(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    site.page(
        "index.md",
        "# Mistakes\n\n"
        "<!-- @video-gen {template=prodcut name=x color=y} -->\n\n"  # 3
        "<!-- @video-gen {template=product name=x} -->\n\n"  # 5
        "<!-- @video-gen {template=product name=x colour=y} -->\n\n"  # 7
        "<!-- @video-gen A kite {template=scene place=sea} -->\n\n"  # 9
        f'<!-- @video-gen {{template=scene place="{"x" * 501}"}} -->\n\n'  # 11
        "```video-gen\ntemplate: product\ncolor: red\nname: [a, b]\n```\n\n"  # 13, name on 16
        "```video-gen\ntemplate: product\ncolor: red\nname: 1.10\n```\n\n"  # 19, name on 22
        "```video-gen\ntemplate: product\ncolor: red\ncolor: blue\nname: x\n```\n",  # 25, color again on 28
    )
    result = site.build(script=NO_TORCH)  # warnings, so `--strict` would fail; in-process to see sys.modules
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "heavy []" in result.stdout and "loaded model" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    expected = [
        "index.md:3: unknown template 'prodcut' (did you mean product? known: product, scene)",
        "index.md:5: template 'product' needs the field color: add color=\"…\"",
        "index.md:7: template 'product' has no field 'colour' (did you mean color? its fields: color, name)",
        "index.md:9: template 'scene' writes the prompt: give only its fields, not prompt text",
        "index.md:11: the field place is 501 characters long, over the limit of 500",
        "index.md:16: template 'product': the field name must be text, got a list",
        "index.md:22: template 'product': the field name is read as a YAML float, which would change how it is "
        'written; quote it: name: "…"',
        "index.md:28: 'color' is given twice in the video-gen block",
    ]
    assert len(warnings) == len(expected), result.stderr
    for line, want in zip(warnings, expected, strict=True):
        assert want in line, (want, line)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"p": {"prompt": "A {Name}"}}, "a field is written {name}"),
        ({"p": {"prompt": "A {size}"}}, "the field {size} has an option's name"),
        ({"p": {"prompt": "A {data}"}}, "the field {data} has an option's name"),
        ({1: "A {x}"}, "template names are text: quote '1' in mkdocs.yml"),
        ({"p": {"prompt": "A {x", "frames": 5}}, "a field is written {name}"),
        ({"p": {"prompt": "A {x}", "frame": 5}}, "unknown key 'frame' (did you mean frames?"),
        ({"p": {"prompt": "A {x}", "frames": 6}}, "template 'p': frames must be 4k+1"),
        ({"p": {"frames": 5}}, "template 'p' needs a prompt"),
        ({"bad name": "A {x}"}, "template names are letters"),
        (["A {x}"], "templates must be a mapping"),
    ],
)
def test_templates_are_checked_when_the_site_loads(value, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_templates(value)


def test_filling_is_one_pass_and_literal():
    template = parse_templates({"t": "{{literal}} {a} then {b}"})["t"]
    assert template.fields == ("a", "b")
    assert template.fill({"a": "{b}", "b": "{{x}}"})["prompt"] == "{literal} {b} then {{x}}"


def test_the_policy_sees_through_look_alike_spellings():
    policy = parse_policy(["gore", "écorché", r"/blood\w*/"])
    refused = [
        "A field of ｇｏｒｅ",  # full-width letters
        "A field of go\u200bre",  # a zero-width space inside the word
        "A field of GO\u00adRE!",  # a soft hyphen, capitals, punctuation after
        unicodedata.normalize("NFKD", "An écorché statue"),  # decomposed accents
        "An ecorche statue",  # the marks themselves do not matter
        "Bloodstained armour",  # a pattern, case-insensitive
        "A ɡore scene",  # IPA script g
        "A ɢᴏʀᴇ scene",  # small capitals
        "A go\u3164re scene",  # a Hangul filler, which shows as nothing
        "A go\u2800re scene",  # the braille blank
        "A gøre scene",  # a letter with a stroke
        "A gɵre goɹe scene",  # a barred o, a turned r
        "A ⒢⒪⒭⒠ scene",  # parenthesized letters (compatibility forms make them "(g)(o)(r)(e)")
        "A \U0001f1ec\U0001f1f4\U0001f1f7\U0001f1ea scene",  # regional indicators
    ]
    expected = ["gore", "gore", "gore", "écorché", "écorché", "/blood\\w*/", "gore", "gore", "gore", "gore"]
    expected += ["gore"] * 4
    assert [policy.violation(text) for text in refused] == expected
    innocent = ("A gorean landscape", "A red kite", "Pine forest", "An æon of Гора")  # other letters stay other
    assert [policy.violation(t) for t in innocent] == [None] * 4
    assert normal_form("Ｆｕｌｌ\u200d width") == "full width"
    for bad, message in (([""], "1 to 200 characters"), (["/[/"], "is not a regular expression"), (7, "a list")):
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_policy(bad)
    # The site's pattern, a contributor's prompt: backtracking without end is stopped, and said.
    with pytest.raises(SpecError, match=r"policy pattern /\(a\|aa\)\+\$/ took over 0\.5 s on this text"):
        parse_policy(["/(a|aa)+$/"]).violation("a" * 60 + "!")


def test_a_prompt_the_policy_refuses_never_loads_the_model(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["policy"] = ["gore", "écorché", r"/blood\w*/"]
    site.options["templates"] = {"scene": "A {place} at dawn"}
    site.page(
        "index.md",
        "# Refused\n\n"
        "<!-- @video-gen A knight in ｇｏｒｅ -->\n\n"  # 3
        "<!-- @video-gen A knight in go\u200bre -->\n\n"  # 5
        f"<!-- @video-gen {unicodedata.normalize('NFKD', 'An écorché statue')} -->\n\n"  # 7
        '<!-- @video-gen {template=scene place="bloodbath"} -->\n\n'  # 9
        "```video-gen\nsegments:\n  - A quiet field\n  - The field, now Gore\n```\n\n"  # 11
        '<!-- @video-gen A quiet meadow {caption="Gore and more"} -->\n',  # 17: the page shows a caption too
    )
    result = site.build(script=NO_TORCH)  # warnings, so `--strict` would fail; in-process to see sys.modules
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "heavy []" in result.stdout and "loaded model" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    lines = [re.search(r"index\.md:(\d+): refused by the site's content policy", w) for w in warnings]
    assert [int(m[1]) for m in lines if m] == [3, 5, 7, 9, 11, 17], result.stderr
    assert "the caption matches 'gore'" in warnings[-1]
    page = (site.site_dir / "index.html").read_text()
    assert page.count("refused by the site&#x27;s content policy") + page.count("refused by the site's content") == 6
    assert "<video" not in page


def test_a_word_ends_at_a_letter_and_patterns_are_bounded_before_compiling():
    policy = parse_policy(["gore", "kill"])
    glued = ["gore_fest", "gore2 night", "2gore", "A go\u0903re scene", "A kıll scene", "A ǀake of gore"]
    assert [policy.violation(text) for text in glued] == ["gore", "gore", "gore", "gore", "kill", "gore"]
    assert policy.violation("A gorean killjoy") is None  # letters on either side: another word
    for pattern, message in (
        ("/((a{99}){99}){99}/", "repeats too much"),  # would take gigabytes and seconds to compile
        ("/(a{65535}){65535}/", "repeats too much"),
        ("/(?V1)kill/", "is not a regular expression"),  # regex raises ValueError for this one
    ):
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_policy([pattern])
    assert parse_policy([r"/x{3}(ab){2,5}/"]).violation("xxxabab") == r"/x{3}(ab){2,5}/"


def test_a_segmented_clips_own_prompt_is_checked(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["policy"] = ["gore"]
    site.page("index.md", "# Title\n\n```video-gen\nprompt: A gore story\nsegments:\n  - A field\n  - A meadow\n```\n")
    result = site.build(script=NO_TORCH)
    assert "index.md:4: refused by the site's content policy: the prompt matches 'gore'" in result.stderr
    assert "heavy []" in result.stdout and "<video" not in (site.site_dir / "index.html").read_text()


def test_the_alt_text_a_page_shows_is_checked_too(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["policy"] = ["gore"]
    site.page("index.md", '# T\n\n<!-- @video-gen A quiet meadow {alt="A meadow full of GORE"} -->\n')
    result = site.build(script=NO_TORCH)
    assert "index.md:3: refused by the site's content policy: the alt matches 'gore'" in result.stderr, result.stderr
    assert "heavy []" in result.stdout and "<video" not in (site.site_dir / "index.html").read_text()


def test_a_templates_style_applies_and_the_directives_own_options_beat_the_templates(tmp_path):
    """As the templates page says: the template's style replaces the site's, its options are
    defaults, and an option the directive gives wins."""
    from mkdocs_wan.assembly.single import plan_directive
    from mkdocs_wan.collect import load_site

    site = Site(tmp_path, tmp_path / "cache")
    site.options |= {"style": "flat colours", "templates": {
        "ad": {"prompt": "A {name} on a desk", "style": "cinematic light", "frames": 5, "seed": 3},
        "plain": "A {name} outdoors",
    }}  # fmt: skip
    site.page("index.md", "# Ad\n")
    site.write_config()
    _config, plugin = load_site(str(site.root / "mkdocs.yml"))
    engine = plugin.engine

    def spec_of(directive: str):
        return plan_directive(engine, "index.md", directive).steps[0].spec

    own = spec_of("<!-- @video-gen {template=ad name=lamp seed=9} -->")
    assert (own.prompt, own.seed, own.frames) == ("A lamp on a desk, cinematic light", 9, 5)
    assert spec_of("<!-- @video-gen {template=ad name=lamp} -->").seed == 3
    assert spec_of("<!-- @video-gen {template=plain name=lamp} -->").prompt == "A lamp outdoors, flat colours"


def test_templates_policy_batches_and_reviews_load_only_for_sites_that_use_them(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Plain\n\n<!-- @video-gen A kite -->\n")
    site.options["generate"] = "never"
    lazy = tuple(f"mkdocs_wan.{name}" for name in ("page.templates", "page.policy", "page.batches", "store.reviews"))
    check = f"print('eager', sorted(m for m in {lazy!r} if m in sys.modules))"
    result = site.build(script=check)
    assert result.returncode == 0, result.stderr
    assert "eager []" in result.stdout, result.stdout
