"""Batches: a fenced block with `data:` and `template:` makes one clip per row, as a gallery."""

from __future__ import annotations

import html
import json
import re

import pytest
from conftest import Site, start_tags, summary

TEMPLATES = {"product": {"prompt": "A {color} {name} on a turntable", "caption": "The {name}"}}
ROWS = [("earbuds", "black"), ("watch", "silver"), ("lamp", "brass"), ("kettle", "red"), ("fan", "white")]
NO_TORCH = "print('heavy', sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"


def csv_of(rows: list[tuple[str, str]]) -> str:
    return "sku,name,color\n" + "".join(f"{n},{name},{color}\n" for n, (name, color) in enumerate(rows, 1))


def gallery(page: str) -> tuple[dict[str, str | None], list[str]]:
    """The gallery's own attributes and its clips' accessible names, in order."""
    tags = start_tags(page)
    (attrs,) = [a for tag, a in tags if tag == "div" and a.get("class") == "wan-gallery"]
    names = [html.unescape(a["aria-label"] or "") for tag, a in tags if tag == "video"]
    return attrs, names


def test_a_csv_becomes_a_gallery_and_one_edited_row_regenerates_one_clip(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    site.page("shop/products.csv", csv_of(ROWS))
    site.page("shop/index.md", "# Shop\n\n```video-gen\ntemplate: product\ndata: products.csv\nframes: 5\n```\n")
    # JSON and YAML rows, found from docs_dir with a leading /: the same prompts share the clips.
    site.page("rows.json", json.dumps([{"name": "earbuds", "color": "black"}, {"name": "fan", "color": "white"}]))
    site.page("rows.yml", "- {name: watch, color: silver}\n- name: lamp\n  color: brass\n- {name: 1.10, color: 010}\n")
    site.page(
        "more.md",
        "# More\n\n```video-gen\ntemplate: product\ndata: /rows.json\nframes: 5\n```\n\n"
        "```video-gen\ntemplate: product\ndata: /rows.yml\nframes: 5\ncaption_column: name\n```\n",
    )
    first = site.build("--strict")
    assert first.returncode == 0, first.stderr
    assert summary("6 clips (MB), 6 generated, 0 cached", first.stderr), first.stderr
    page = (site.site_dir / "shop" / "index.html").read_text()
    attrs, names = gallery(page)
    assert attrs["role"] == "list" and attrs["aria-label"] == "Gallery of 5 clips from products.csv"
    assert names == [f"Generated clip: A {color} {name} on a turntable" for name, color in ROWS]
    assert page.count('role="listitem"') == 5 and "<figcaption>The kettle</figcaption>" in page
    more = (site.site_dir / "more" / "index.html").read_text()
    assert "<figcaption>watch</figcaption>" in more  # the caption column replaces the template's caption
    # A data file's values are the text written there, not YAML's numbers (1.1, 8).
    assert "Generated clip: A 010 1.10 on a turntable" in html.unescape(more)

    edited = [*ROWS[:2], ("lamp", "copper"), *ROWS[3:]]
    site.page("shop/products.csv", csv_of(edited))
    second = site.build("--strict")
    assert second.returncode == 0, second.stderr
    assert summary("7 clips (MB), 1 generated, 6 cached", second.stderr), second.stderr  # the YAML keeps brass
    listed = site.cli("list")
    assert listed.returncode == 0 and listed.stdout.count("shop/index.md:3\tcached") == 5, listed.stdout


def test_bad_batches_are_page_line_warnings_before_any_model_work(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    (tmp_path / "secret.csv").write_text("name,color\nx,y\n")
    site.page("big.csv", "name,color\n" + "a,b\n" * 201)
    site.page("holes.csv", "name,color\nearbuds,\n,black\nwatch,silver,extra\n")
    site.page("latin1.csv", "name,color\n")
    (tmp_path / "docs" / "latin1.csv").write_bytes("name,color\ncaf\xe9,red\n".encode("latin-1"))
    site.page("alias.yml", "- &a {name: x, color: y}\n- *a\n")
    site.page("object.json", '{"name": "x"}')
    site.page("names.csv", "name,colour\nx,y\n")
    fence = "```video-gen\ntemplate: {template}\ndata: {data}\n```\n\n"
    blocks = [
        ("product", "../secret.csv"),  # block on line 3, its data: key on 5
        ("product", "big.csv"),  # 8, 10
        ("product", "latin1.csv"),  # 13, 15
        ("product", "alias.yml"),  # 18, 20
        ("product", "object.json"),  # 23, 25
        ("prodcut", "holes.csv"),  # 28, its template: key on 29
        ("product", "holes.csv"),  # 33, 35: every row is bad (the last has an extra value)
        ("product", "missing.csv"),  # 38, 40
    ]
    site.page(
        "index.md",
        "# Bad\n\n"
        + "".join(fence.format(template=t, data=d) for t, d in blocks)
        + "<!-- @video-gen {template=product data=holes.csv} -->\n\n"  # 43
        + fence.format(template="product", data="names.csv"),  # 45, data on 47: no color column
    )
    result = site.build(script=NO_TORCH)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "heavy []" in result.stdout and "loaded model" not in result.stderr
    warnings = [line.split("mkdocs_wan: ", 1)[1] for line in result.stderr.splitlines() if line.startswith("WARNING")]
    expected = [
        "index.md:5: data '../secret.csv' resolves outside docs_dir",
        "index.md:10: big.csv has 201 rows, over the limit of 200; split it",
        "index.md:15: latin1.csv is not UTF-8 text",
        "index.md:20: YAML anchors and aliases (& and *) are not allowed in a data file alias.yml",
        "index.md:25: object.json must hold a list of records",
        "index.md:29: unknown template 'prodcut' (did you mean product?",
        # Each bad row is a note named by its line in the file; a row with a value too many says why.
        "index.md:33: holes.csv line 2: template 'product': the field color is empty",
        "index.md:33: holes.csv line 3: template 'product': the field name is empty",
        'index.md:33: holes.csv line 4: 3 values for 2 columns; a value with a comma needs quotes: "a, b"',
        "index.md:40: data 'missing.csv' is not a file in docs_dir",
        "index.md:43: data: needs the fenced form",
        "index.md:47: names.csv has no column color for template 'product' (its columns: name, colour)",
    ]
    assert len(warnings) == len(expected), "\n".join(warnings)
    for line, want in zip(warnings, expected, strict=True):
        assert line.startswith(want), (want, line)
    page = (site.site_dir / "index.html").read_text()
    assert "<video" not in page and page.count("Video not generated") == len(expected)


def test_a_bad_row_is_a_note_in_its_place_and_the_other_rows_are_made(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    site.page("p.csv", "name,color\nearbuds,black\nwatch,\n")
    site.page("index.md", "# P\n\n```video-gen\ntemplate: product\ndata: p.csv\nframes: 5\n```\n")
    result = site.build()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    said = "index.md:3: p.csv line 3: template 'product': the field color is empty"
    assert len(warnings) == 1 and said in warnings[0], warnings
    assert summary("1 clip (MB), 1 generated, 0 cached", result.stderr), result.stderr
    page = (site.site_dir / "index.html").read_text()
    attrs, names = gallery(page)
    assert attrs["aria-label"] == "Gallery of 1 clip from p.csv" and names == [
        "Generated clip: A black earbuds on a turntable"
    ]
    assert re.search(r'role="listitem"><div class="admonition failure wan-video-error"', page)


def test_json_data_with_a_key_given_twice_is_refused_as_yaml_and_csv_are(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    site.page("rows.json", '[{"name": "lamp", "color": "red", "color ": "blue"}]')  # equal once trimmed
    site.page("index.md", "# Shop\n\n```video-gen\ntemplate: product\ndata: rows.json\n```\n")
    result = site.build(script=NO_TORCH)
    assert "index.md:5: rows.json is not valid JSON: the key 'color' is given twice in one record" in result.stderr
    assert "heavy []" in result.stdout and "<video" not in (site.site_dir / "index.html").read_text()


def test_segment_prompts_each_within_the_limit_make_one_clip(tmp_path):
    from mkdocs_wan.assembly.plan import plan_clip

    defaults = {"frames": 5, "fps": 8, "size": (64, 64), "steps": 2, "guidance": 5.0, "guidance_2": None,
                "seed": None, "negative_prompt": ""}  # fmt: skip
    long = ["A " + "very " * 380 + f"long scene {n}" for n in range(3)]  # ~1,920 characters each
    plan = plan_clip({"segments": long}, defaults, "", "tiny/v2", 20)
    assert len(plan.title) > 5_000 and len(plan.steps) == 4


def test_a_bad_cell_refuses_only_the_rows_that_use_its_column(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.options["templates"] = TEMPLATES
    notes = "x" * 2_500  # over the 2,000-character limit, in a column no template slot reads
    site.page("p.csv", f"name,color,notes\nearbuds,black,{notes}\nwatch,sil\u202ever,ok\n")
    site.page("index.md", "# P\n\n```video-gen\ntemplate: product\ndata: p.csv\nframes: 5\n```\n")
    result = site.build()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "index.md:3: p.csv line 3: color contains a bidirectional override" in warnings[0]
    assert summary("1 clip (MB), 1 generated, 0 cached", result.stderr), result.stderr
    assert gallery((site.site_dir / "index.html").read_text())[1] == ["Generated clip: A black earbuds on a turntable"]


def test_json_numbers_are_the_text_written_as_yaml_rows_are(tmp_path):
    from mkdocs_wan.page.batches import read_rows
    from mkdocs_wan.page.spec import SpecError

    (tmp_path / "rows.json").write_text('[{"version": 1.10, "size": 1e999, "count": 10.50, "n": 7}]')
    _name, rows = read_rows("rows.json", "index.md", tmp_path)
    assert rows == [{"version": "1.10", "size": "1e999", "count": "10.50", "n": "7"}]  # never 1.1 or inf
    (tmp_path / "nan.json").write_text('[{"x": NaN}]')
    with pytest.raises(SpecError, match="NaN is not a JSON value; write it in quotes"):
        read_rows("nan.json", "index.md", tmp_path)


def test_csv_rows_are_named_by_their_first_line_in_the_file(tmp_path):
    from mkdocs_wan.page.batches import BadCell, read_rows

    (tmp_path / "rows.csv").write_text('name,color\n"two\nlines",red\nwatch,silver,extra\n\nlamp,brass\n')
    _name, rows = read_rows("rows.csv", "index.md", tmp_path)
    assert [row.label for row in rows] == ["line 2", "line 4", "line 6"]
    assert rows[0] == {"name": "two\nlines", "color": "red"} and rows[2] == {"name": "lamp", "color": "brass"}
    assert isinstance(rows[1]["name"], BadCell) and "needs quotes" in rows[1]["name"].problem
