"""The review gate: QC and a safety model flag clips, a person decides, the docs repo remembers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from conftest import Site, summary
from test_serve import Server

from mkdocs_wan.media.credentials import CLIP_ASSERTION, manifest_state
from mkdocs_wan.store.cache import ClipCache

PAGE = "# Kites\n\n<!-- @video-gen A red kite -->\n\n<!-- @video-gen A blue kite -->\n"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny random-weight image classifier (labels normal, nsfw), written by the CLI."""
    folder = tmp_path_factory.mktemp("classifier") / "tiny-safety"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs_wan", "tiny", "safety", str(folder)], capture_output=True, text=True
    )
    assert result.returncode == 0 and "wrote a tiny image classifier" in result.stdout, result.stderr
    assert result.stderr == ""  # no transformers warning about a missing torchvision
    return folder


def flagging(site: Site, classifier, threshold: float = 0.0) -> Site:
    """A threshold of 0 makes every clip's verdict certain: flagged."""
    site.options.update({"safety_model": str(classifier), "safety_threshold": threshold, "frames": 5})
    return site


def keys(page: str) -> list[str]:
    return re.findall(r"approve (\w{12})", page)


def test_a_flagged_clip_is_held_until_approved_in_the_docs_repo_and_a_rejected_one_never_ships(tmp_path, classifier):
    site = flagging(Site(tmp_path / "a", tmp_path / "cache"), classifier)
    site.page("index.md", PAGE)
    strict = site.build("--strict")  # a pull request's build stops on held clips
    assert strict.returncode != 0 and "Traceback" not in strict.stderr
    held = [line for line in strict.stderr.splitlines() if line.startswith("WARNING") and "held for" in line]
    assert len(held) == 2 and "index.md:3: held for review (" in held[0] and "scores it nsfw" in held[0], held
    result = site.build()
    assert result.returncode == 0 and summary("2 clips (MB), 0 generated, 2 cached, 2 held for review", result.stderr)
    assert "torchvision" not in strict.stderr + result.stderr  # loading the safety model says nothing of it
    page = (site.site_dir / "index.html").read_text()
    # Readers get a neutral note; the reason and the command are in the build log (and serve's page).
    assert page.count("Video not available") == 2 and "<video" not in page
    assert "approve" not in page and "nsfw" not in page
    assert not (site.site_dir / "assets" / "videos").exists()  # held clips are not published
    red, blue = keys(result.stderr)

    # The verdict is in the record and in the clip's Content Credentials.
    cache = ClipCache(tmp_path / "cache")
    (full_red,) = [k for k in cache.clip_keys() if k.startswith(red) and cache.record(k).get("safety")]
    verdict = cache.record(full_red)["safety"]
    assert (
        verdict["flagged"] == ["nsfw"] and verdict["threshold"] == 0.0 and set(verdict["scores"]) == {"normal", "nsfw"}
    )
    _, manifest = manifest_state(cache.path(full_red))
    (claim,) = [a["data"] for a in manifest["assertions"] if a["label"] == CLIP_ASSERTION]
    assert claim["checks"]["safety"]["flagged"] == ["nsfw"] and claim["checks"]["quality"] is None  # QC passed

    # `review` shows each held clip and records the answer; `reject` records another.
    shown = subprocess.run(
        [sys.executable, "-m", "mkdocs_wan", "review", "--by", "Ada"],
        cwd=site.root, input="a\nthe red is fine\ns\n", capture_output=True, text=True, env=site.env(), timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "index.md:3" in shown.stdout and "prompt: A red kite" in shown.stdout
    assert re.search(r"look:   \S+\.mp4  \(poster \S+\.jpg\)", shown.stdout), shown.stdout  # the clip judged
    assert "1 of 2 held clips decided" in shown.stdout
    rejected = site.cli("reject", blue, "--why", "off-brand", "--by", "Grace")
    assert rejected.returncode == 0 and f"rejected {blue}" in rejected.stdout, rejected.stderr
    decisions = yaml.safe_load((site.root / "mkdocs-wan-reviews.yml").read_text())["clips"]
    assert {k[:12]: (v["decision"], v["by"], v["why"]) for k, v in decisions.items()} == {
        red: ("approved", "Ada", "the red is fine"),
        blue: ("rejected", "Grace", "off-brand"),
    }

    # Another machine: a fresh clone of the docs (decisions included) sharing the cache.
    clone = Site(tmp_path / "b", tmp_path / "cache")
    clone.options = dict(site.options)
    shutil.copytree(site.root / "docs", clone.root / "docs")
    shutil.copy(site.root / "mkdocs-wan-reviews.yml", clone.root)
    result = clone.build()
    assert result.returncode == 0, result.stderr
    assert summary("2 clips (MB), 0 generated, 2 cached, 1 rejected in review", result.stderr), result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "index.md:5: rejected in review by Grace: off-brand: A blue kite" in warnings[0]
    page = (clone.site_dir / "index.html").read_text()
    assert page.count("<video") == 1 and "Video not available" in page and "Grace" not in page
    published = sorted(p.name[:12] for p in (clone.site_dir / "assets" / "videos").glob("*.mp4"))
    assert published == [red]


def test_a_broken_review_file_stops_the_build_before_any_model_work(tmp_path, classifier):
    site = flagging(Site(tmp_path, tmp_path / "cache"), classifier)
    site.page("index.md", PAGE)
    (tmp_path / "mkdocs-wan-reviews.yml").write_text("clips:\n  not-a-key: {decision: approved}\n")
    result = site.build()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "the review file mkdocs-wan-reviews.yml names 'not-a-key', which is not a clip key" in result.stderr
    assert "loaded model" not in result.stderr
    (tmp_path / "mkdocs-wan-reviews.yml").write_text("clips: &a [*a]\n")
    result = site.build()
    assert result.returncode != 0 and "anchors and aliases" in result.stderr and "Traceback" not in result.stderr
    site.options["review_file"] = "../elsewhere/reviews.yml"  # `approve` would write outside the docs
    result = site.build()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "review_file must stay in the folder of mkdocs.yml" in result.stderr


def test_a_flagged_clip_is_held_under_serve_too_and_approving_it_plays_it(tmp_path, classifier):
    site = flagging(Site(tmp_path, tmp_path / "cache"), classifier)
    site.page("index.md", "# Serve\n\n<!-- @video-gen A kite held under serve -->\n")
    site.write_config()
    server = Server(tmp_path, "--dirty")
    try:
        page = server.wait_for("/", "Held for review")
        assert "<video" not in page and "held for review (" in page
        assert re.search(r"index\.md:3: held for review \(.*scores it nsfw", server.output())
        (key,) = keys(page)  # approving it while serving re-renders the page, though no source changed
        assert site.cli("approve", key, "--by", "Ada").returncode == 0
        assert "Held for review" not in server.wait_for("/", "<video")
    finally:
        server.proc.kill()
        server.proc.wait()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"clips:\n  {'a' * 64}: {{decision: rejected}}\n  {'a' * 64}: {{decision: approved}}\n", "is given twice"),
        (f"clips:\n  {'a' * 64}: {{decision: rejected, decision: approved}}\n", "'decision' is given twice"),
        ("- a\n", "must hold `clips:`"),
        ("hello\n", "must hold `clips:`"),
        ("clipz: {}\n", "must hold `clips:`"),
        ("clips: [a]\n", "must hold `clips:`"),
        (f"clips:\n  {'a' * 64}: {{decision: maybe}}\n", "needs `decision: approved` or `rejected`"),
        (
            f"clips:\n  {'a' * 64}:\n    <<: {{decision: approved}}\n",
            "merge keys (<<) are not allowed in a review file reviews.yml: write the keys out (line 3)",
        ),
    ],
)
def test_a_review_file_that_could_mean_two_things_is_refused(tmp_path, text, message):
    """A merge that leaves a clip both rejected and approved must not publish it by YAML's
    last-one-wins; a file of another shape must not silently drop every decision."""
    from mkdocs_wan.store.reviews import ReviewFileError, load_reviews

    (tmp_path / "reviews.yml").write_text(text)
    with pytest.raises(ReviewFileError, match=re.escape(message)):
        load_reviews(tmp_path / "reviews.yml")
    assert load_reviews(tmp_path / "absent.yml") == {}


def test_a_rejection_holds_a_clip_nothing_flagged_and_approve_publishes_a_held_one(tmp_path, classifier):
    site = Site(tmp_path, tmp_path / "cache")  # no safety model: nothing is flagged
    site.page("index.md", PAGE)
    assert site.build().returncode == 0
    red, blue = re.findall(r'data-wan-key="(\w{12})', (site.site_dir / "index.html").read_text())
    assert red[:4] != blue[:4]
    short = site.cli("reject", red[:3], "--by", "Ada")
    assert short.returncode != 0 and "a start of it of 4 or more characters" in short.stderr, short.stderr
    assert site.cli("reject", red[:4], "--by", "Ada").returncode == 0  # a unique start of 4 is enough
    result = site.build()
    assert summary("2 clips (MB), 0 generated, 2 cached, 1 rejected in review", result.stderr), result.stderr
    assert [p.name[:12] for p in (site.site_dir / "assets" / "videos").glob("*.mp4")] == [blue]

    held = flagging(Site(tmp_path / "h", tmp_path / "hcache"), classifier)
    held.page("index.md", "# One\n\n<!-- @video-gen A green kite -->\n")
    first = held.build().stderr
    assert "1 held for review" in first
    (key,) = keys(first)
    approved = held.cli("approve", key, "--by", "Grace")
    assert approved.returncode == 0 and f"approved {key}" in approved.stdout, approved.stderr
    assert "held for review" not in approved.stderr  # not the very warning being resolved
    result = held.build()
    assert summary("1 clip (MB), 0 generated, 1 cached", result.stderr) and "held" not in result.stderr
    assert "<video" in (held.site_dir / "index.html").read_text()


def test_a_segment_of_a_held_clip_is_held_wherever_it_appears(tmp_path, classifier):
    """A segment's key is a plain directive's key for its prompt and seed: it is checked itself."""
    site = flagging(Site(tmp_path, tmp_path / "cache"), classifier)
    site.page("story.md", "# Story\n\n```video-gen\nsegments:\n  - A box opens\n  - A bird flies out\n```\n")
    assert "1 held for review" in site.build().stderr
    cache = ClipCache(tmp_path / "cache")
    segment = next(cache.record(k) for k in cache.clip_keys() if (cache.record(k) or {}).get("spec", {}).get(
        "prompt") == "A box opens")  # fmt: skip
    assert segment["safety"]["flagged"] == ["nsfw"]
    spec = segment["spec"]
    site.page("plain.md", f"# Plain\n\n<!-- @video-gen A box opens {{seed={spec['seed']}}} -->\n")
    result = site.build()
    assert "plain.md:3: held for review (" in result.stderr, result.stderr
    assert "<video" not in (site.site_dir / "plain" / "index.html").read_text()


def test_simultaneous_decisions_all_land(tmp_path):
    """Eight reviewers at once: every decision is in the file (a lost rejection ships a clip)."""
    from concurrent.futures import ProcessPoolExecutor

    from mkdocs_wan.store.reviews import load_reviews, record_decision

    path, lock = tmp_path / "mkdocs-wan-reviews.yml", tmp_path / "cache" / "locks" / "reviews.lock"
    keys_ = [f"{i:x}" * 64 for i in range(1, 9)]
    decisions = ["rejected" if i % 2 else "approved" for i in range(8)]
    with ProcessPoolExecutor(8) as pool:
        list(pool.map(record_decision, [path] * 8, keys_, decisions, ["Ada"] * 8, [""] * 8, [""] * 8, [lock] * 8))
    assert {k: d.decision for k, d in load_reviews(path).items()} == dict(zip(keys_, decisions, strict=True))


@pytest.mark.parametrize("place", ["docs/reviews.yml", "site/reviews.yml", "docs/linked.yml"])
def test_a_review_file_that_would_be_published_or_deleted_is_refused(tmp_path, place):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", PAGE)
    site.options["review_file"] = place
    if place == "docs/linked.yml":  # a link in docs_dir to a file elsewhere: the site publishes the link's name
        (tmp_path / "elsewhere.yml").write_text("clips: {}\n")
        (tmp_path / "docs" / "linked.yml").symlink_to(tmp_path / "elsewhere.yml")
    result = site.build()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"review_file '{place}' is inside {place.split('/')[0]}_dir" in result.stderr


def test_a_dirty_build_follows_a_changed_decision(tmp_path):
    """`--dirty` re-renders only changed sources: a decision changes none, yet its pages follow it."""
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", PAGE)
    site.page("other.md", "# Other\n\nNo clips here.\n")
    assert site.build().returncode == 0
    red, blue = re.findall(r'data-wan-key="(\w{12})', (site.site_dir / "index.html").read_text())
    other = site.site_dir / "other" / "index.html"
    untouched = other.stat().st_mtime_ns
    videos = site.site_dir / "assets" / "videos"
    assert site.cli("reject", red, "--by", "Ada").returncode == 0
    assert site.build("--dirty").returncode == 0
    page = (site.site_dir / "index.html").read_text()
    assert page.count("<video") == 1 and "Video not available" in page
    assert sorted({p.name[:12] for p in videos.iterdir()}) == [blue]  # nothing of red is left to fetch
    assert other.stat().st_mtime_ns == untouched  # a page without clips is still left alone
    assert site.cli("approve", red, "--by", "Ada").returncode == 0
    assert site.build("--dirty").returncode == 0
    assert sorted({p.name[:12] for p in videos.iterdir()}) == sorted([red, blue])
    assert (site.site_dir / "index.html").read_text().count("<video") == 2
    assert site.cli("reject", red, "--by", "Ada").returncode == 0  # and the page drops it in the same edit
    site.page("index.md", "# Kites\n\n<!-- @video-gen A blue kite -->\n")
    assert site.build("--dirty").returncode == 0
    assert sorted({p.name[:12] for p in videos.iterdir()}) == [blue]  # no page uses it: still never at its URL


def test_a_dirty_build_follows_a_decision_on_a_clip_a_snippet_brings(tmp_path):
    """A page whose directive comes from a pymdownx.snippets file has no directive of its own: its
    output (our markup) says it must be redone when a decision changes."""
    site = Site(tmp_path, tmp_path / "cache")
    site.config["markdown_extensions"] = [{"pymdownx.snippets": {"base_path": ["snippets"]}}]
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "part.md").write_text("<!-- @video-gen A kite a snippet brings -->\n")
    site.page("inc.md", '# Included\n\n--8<-- "part.md"\n')
    assert site.build().returncode == 0
    page = site.site_dir / "inc" / "index.html"
    (key,) = re.findall(r'data-wan-key="(\w{12})', page.read_text())
    assert site.cli("reject", key, "--by", "Ada").returncode == 0
    result = site.build("--dirty")
    assert result.returncode == 0, result.stderr
    assert "<video" not in page.read_text() and "Video not available" in page.read_text(), result.stderr


def test_a_decision_that_lands_during_a_dirty_build_is_applied_by_the_next(tmp_path):
    """`mkdocs-wan approve` while `mkdocs serve --dirty` rebuilds: the build notes the decisions it
    read, not the file as it is when it ends, or the next builds would skip the pages for good."""
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Kites\n\n<!-- @video-gen A kite rejected mid-build -->\n")
    assert site.build().returncode == 0
    (key,) = re.findall(r'data-wan-key="(\w{64})"', (site.site_dir / "index.html").read_text())
    # A hook that decides once, after the plugin read the decisions and before the build ends.
    (tmp_path / "late.py").write_text(
        "from pathlib import Path\nfrom mkdocs_wan.store.reviews import record_decision\n\n\n"
        "def on_nav(nav, config, files):\n"
        "    path = Path(config.config_file_path).parent / 'mkdocs-wan-reviews.yml'\n"
        "    if not path.exists():\n"
        f"        record_decision(path, {key!r}, 'rejected', 'Ada', 'decided mid-build')\n"
    )
    site.config["hooks"] = ["late.py"]
    assert site.build("--dirty").returncode == 0
    assert (tmp_path / "mkdocs-wan-reviews.yml").is_file()
    result = site.build("--dirty")
    assert result.returncode == 0, result.stderr
    page = (site.site_dir / "index.html").read_text()
    assert "<video" not in page and "Video not available" in page, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_review_file_that_never_ends_stops_the_build_in_one_line(tmp_path, kind):
    """A FIFO (nobody writes to it) or a link to /dev/zero where the review file goes: one line, no
    hang and no endless read — not in reading the decisions, nor in noting which were applied."""
    site = Site(tmp_path, tmp_path / "cache")
    site.options["generate"] = "never"
    site.page("index.md", "# Kites\n\n<!-- @video-gen A kite no review file can hold up -->\n")
    review_file = tmp_path / "mkdocs-wan-reviews.yml"
    if kind == "fifo":
        os.mkfifo(review_file)
    else:
        review_file.symlink_to(kind)
    for args in ((), ("--dirty",)):
        started = time.monotonic()
        result = site.build(*args)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert "mkdocs-wan-reviews.yml is not a regular file of at most 4,000,000 bytes" in result.stderr
        assert time.monotonic() - started < 60


def test_a_clip_another_site_made_while_this_build_waited_gets_this_sites_safety_verdict(tmp_path, classifier):
    """Two sites share a cache; the one with a safety model waits on the clip's lock while the other
    makes it: what it then finds cached is new to it and judged by its own model, not published unseen."""
    import filelock

    plain = Site(tmp_path / "plain", tmp_path / "own")
    plain.options["frames"] = 5
    plain.page("index.md", "# One\n\n<!-- @video-gen A kite two sites share -->\n")
    assert plain.build().returncode == 0
    (key,) = re.findall(r'data-wan-key="(\w+)"', (plain.site_dir / "index.html").read_text())
    made = ClipCache(tmp_path / "own")
    shared = ClipCache(tmp_path / "shared")
    guarded = flagging(Site(tmp_path / "guarded", tmp_path / "shared"), classifier)
    guarded.page("index.md", "# One\n\n<!-- @video-gen A kite two sites share -->\n")
    lock = filelock.FileLock(tmp_path / "shared" / "locks" / f"{key}.lock")
    (tmp_path / "shared" / "locks").mkdir(parents=True)
    with lock:  # the other site's process is making it
        build = guarded.popen_build()
        time.sleep(8)  # the guarded build plans the clip as missing and waits for the lock
        assert build.poll() is None
        record = {
            k: v for k, v in (made.record(key) or {}).items() if k not in ("sha256", "bytes", "created", "mtime_ns")
        }
        shared.store(key, lambda path: shutil.copyfile(made.path(key), path), record)
    _out, err = build.communicate(timeout=120)
    assert build.returncode == 0, err
    assert "index.md:3: held for review (" in err and "scores it nsfw" in err, err
    assert "<video" not in (guarded.site_dir / "index.html").read_text()


def test_a_rejected_clip_missing_from_the_cache_is_reported_as_rejected_and_never_made_again(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", PAGE)
    assert site.build().returncode == 0
    red, _blue = re.findall(r'data-wan-key="(\w{12})', (site.site_dir / "index.html").read_text())
    assert site.cli("reject", red, "--by", "Ada", "--why", "off-brand").returncode == 0
    cache = ClipCache(site.cache_dir)
    (full,) = [key for key in cache.clip_keys() if key.startswith(red)]
    cache.discard(full)  # a CI cache restored without it
    assert not cache.path(full).exists()
    site.options["generate"] = "never"
    never = site.build()
    assert "index.md:3: rejected in review by Ada: off-brand: A red kite" in never.stderr, never.stderr
    assert "not in the cache" not in never.stderr
    listed = [row.split("\t")[:2] for row in site.cli("list").stdout.splitlines()]
    assert listed == [["index.md:3", "rejected"], ["index.md:5", "cached"]], listed
    assert summary("2 clips (MB), 0 generated, 1 cached, 1 rejected in review", never.stderr), never.stderr
    site.options["generate"] = "auto"
    auto = site.build()
    assert summary("2 clips (MB), 0 generated, 1 cached, 1 rejected in review", auto.stderr), auto.stderr
    assert not cache.path(full).exists()  # a rejected clip is not made again
