"""The cache as a CI artifact under abuse: kill -9, concurrent builds, corruption, no space."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time

import pytest
from conftest import Site

from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.media.posters import audit
from mkdocs_wan.store.cache import ClipCache

SLOW = "{size=256x256 frames=33 steps=8}"  # about a second each on 2 cores


def generated(output: str) -> int:
    return int(re.search(r"(\d+) generated", output)[1])


def test_kill_9_mid_build_leaves_nothing_corrupt_and_next_build_fills_the_gaps(site):
    for i in range(4):
        site.page(f"p{i}.md", f"<!-- @video-gen Clip {i} of a killed build {SLOW} -->\n")
    cache = ClipCache(site.cache_dir)
    before = set(cache.clip_keys())
    proc = site.popen_build()
    deadline = time.monotonic() + 120
    while len(set(cache.clip_keys()) - before) < 1:  # kill once the first clip landed
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    landed = set(cache.clip_keys()) - before
    assert 1 <= len(landed) < 4
    # A published clip is complete and matches its record — or, killed between the rename and
    # the index write, has no record yet and is therefore never served (it gets regenerated).
    usable = {key for key in landed if audit(cache, key) is None}
    assert all(audit(cache, key) == "no index record" and cache.check(key) == "missing" for key in landed - usable)
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert generated(result.stderr) == 4 - len(usable)
    assert all(count_frames(p) == 33 for p in site.site_dir.glob("assets/videos/*.mp4"))
    assert len(list(site.site_dir.glob("assets/videos/*.mp4"))) == 4


def test_three_builds_at_once_generate_each_clip_once(tmp_path, shared_cache):
    sites = [Site(tmp_path / f"s{i}", shared_cache) for i in range(3)]
    for s in sites:
        for i in range(3):
            s.page(f"p{i}.md", f"<!-- @video-gen Shared clip {i} built three times {SLOW} -->\n")
    procs = [s.popen_build("--strict") for s in sites]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sum(generated(err) for _out, err in outputs) == 3
    for s in sites:
        assert len(list(s.site_dir.glob("assets/videos/*.mp4"))) == 3


@pytest.mark.parametrize("damage", ["bit-flip", "truncate"])
def test_corrupt_cached_clip_is_detected_regenerated_and_reported(site, damage):
    site.page("index.md", f"# Home\n\n<!-- @video-gen A clip that gets damaged ({damage}) -->\n")
    assert site.build().returncode == 0
    cache = ClipCache(site.cache_dir)
    (key,) = re.findall(r'data-wan-key="(\w+)"', (site.site_dir / "index.html").read_text())
    data = bytearray(cache.path(key).read_bytes())
    if damage == "bit-flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[len(data) // 2 :]
    cache.path(key).write_bytes(bytes(data))

    result = site.build()
    assert result.returncode == 0, result.stderr
    assert f"index.md:3: cached clip {key[:12]} failed its checksum" in result.stderr
    assert "1 generated" in result.stderr
    assert audit(cache, key) is None and count_frames(site.site_dir / "assets" / "videos" / f"{key}.mp4") == 9


def test_a_clip_whose_record_is_gone_is_said_to_be_remade_and_a_folder_in_its_place_stops_the_build(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Home\n\n<!-- @video-gen A clip that loses its record -->\n")
    assert site.build().returncode == 0
    cache = ClipCache(site.cache_dir)
    (key,) = re.findall(r'data-wan-key="(\w+)"', (site.site_dir / "index.html").read_text())
    cache.index.pop(key)
    cache.close()
    cache.sidecar_path(key).write_text("\x00garbage")
    result = site.build()
    assert result.returncode == 0 and "1 generated" in result.stderr, result.stderr
    assert f"index.md:3: cached clip {key[:12]} has no record to check it by" in result.stderr

    cache.path(key).unlink()
    cache.path(key).mkdir()  # something squats where the clip goes: say so before any model work
    result = site.build()
    assert result.returncode != 0 and "Traceback" not in result.stderr and "clip 1/1" not in result.stderr
    assert f"{cache.path(key)} is a folder, where clip {key[:12]} is stored; remove it" in result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs as the cache folder (needs mount privileges, as CI has here)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("stage", ["saving the tiny model", "writing a clip"])
def test_full_cache_dir_is_a_clear_error(site, small_disk, stage):
    site.options["cache_dir"] = str(small_disk)
    if stage == "writing a clip":  # the model fits; then the disk fills up
        site.page("index.md", "<!-- @video-gen A clip that still fits -->\n")
        assert site.build().returncode == 0
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 4096))  # leave one page free
    site.page("index.md", "<!-- @video-gen A clip with nowhere to go -->\n")
    result = site.build()
    assert result.returncode == 1
    assert "No space left on device" in result.stderr and str(small_disk) in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(small_disk.glob("clips/.*.tmp.mp4"))


def test_read_only_cache_dir_is_a_clear_error(site, small_disk):
    site.options["cache_dir"] = str(small_disk / "cache")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    site.page("index.md", "<!-- @video-gen A clip in a read-only cache -->\n")
    result = site.build()
    assert result.returncode == 1
    assert "Read-only file system" in result.stderr and "cache" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_extension_never_leaves_a_truncated_clip_on_a_full_disk(tmp_path, shared_cache, small_disk):
    """docs_dir on another (full) file system: the clip is copied, not linked; the copy fails
    whole, with one line, and a later run with room places it complete."""
    import markdown

    from mkdocs_wan.extension import WanExtension

    docs = small_disk / "docs"
    docs.mkdir()
    options = {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2, "cache_dir": str(shared_cache)}
    options |= {"docs_dir": str(docs), "credentials": False}
    text = "<!-- @video-gen A clip for a full disk -->\n"
    markdown.markdown(text, extensions=[WanExtension(**options)])  # makes the clip, places it
    (placed,) = (docs / "assets" / "videos").glob("*.mp4")
    size = placed.stat().st_size
    placed.unlink()
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - size // 2))  # room for half of it
    with pytest.raises(RuntimeError, match="No space left on device"):
        markdown.markdown(text, extensions=[WanExtension(**options)])
    assert not list((docs / "assets" / "videos").glob("*.mp4")) and not list(docs.rglob(".*.tmp"))
    (small_disk / "filler").unlink()
    markdown.markdown(text, extensions=[WanExtension(**options)])
    assert placed.stat().st_size == size
