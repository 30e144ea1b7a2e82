"""The serve worker with the real tiny model: order, dropping, failures, clean stop."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from mkdocs_wan.assembly.plan import Generate, Plan
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.render.tiny import ensure_tiny_model
from mkdocs_wan.serve import ClipWorker
from mkdocs_wan.store.cache import ClipCache

SLOW = ClipSpec("A slow clip", "", 1, 33, 24, 256, 256, 8, 5.0)  # a few seconds on 2 cores


def small(key: str) -> Plan:
    return plan(key, ClipSpec(key, "", 1, 5, 24, 64, 64, 1, 1.0))


def plan(key: str, spec: ClipSpec) -> Plan:
    return Plan((Generate(key, spec),), spec, spec.prompt)


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    gen = WanGenerator(ModelRef.resolve("tiny", tmp_path_factory.mktemp("m")), tmp_path_factory.mktemp("c"))
    gen.load()
    return gen


@pytest.fixture
def cache(tmp_path):
    return ClipCache(tmp_path / "cache")


def wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_newest_edit_first_and_vanished_jobs_dropped(generator, cache):
    done = threading.Semaphore(0)
    worker = ClipWorker(lambda: cache, done.release)
    try:
        worker.submit(plan("slow", SLOW), lambda: generator, {}, page_mtime=0.0, where="a.md:1")
        wait(lambda: worker.running == "slow")
        worker.submit(small("old"), lambda: generator, {}, page_mtime=1.0, where="b.md:1")
        worker.submit(small("newest"), lambda: generator, {}, page_mtime=3.0, where="c.md:1")
        worker.submit(small("middle"), lambda: generator, {}, page_mtime=2.0, where="d.md:1")
        worker.submit(small("gone"), lambda: generator, {}, page_mtime=9.0, where="e.md:1")
        worker.retain({"slow", "old", "newest", "middle"})  # "gone" was deleted from its page
        wait(lambda: not worker.busy)
    finally:
        worker.stop()
    order = sorted(("slow", "newest", "middle", "old"), key=lambda k: cache.index[k]["created"])
    assert order == ["slow", "newest", "middle", "old"]
    assert not cache.has("gone")


def test_failure_is_remembered_until_the_page_changes(generator, cache, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(ensure_tiny_model(generator.cache_dir), broken)
    vae = broken / "vae" / "config.json"
    vae.write_text(json.dumps({**json.loads(vae.read_text()), "latents_std": [1.0] * 47}))
    bad = WanGenerator(ModelRef.resolve(str(broken), tmp_path), tmp_path)
    worker = ClipWorker(lambda: cache, lambda: None)
    try:
        worker.submit(small("k"), lambda: bad, {}, page_mtime=100.0, where="a.md:1")
        wait(lambda: worker.failure("k", 100.0) is not None)
        assert worker.failure("k", 100.0).startswith("RuntimeError")
        assert worker.failure("k", time.time() + 1) is None  # edited page: retry
        assert worker.failure("k", 100.0) is None
    finally:
        worker.stop()


class HeldAtFirstStep:
    """The real generator, whose first denoising step waits until the worker is asked to stop:
    the stop then lands mid-clip on any machine, however fast it renders."""

    def __init__(self, generator: WanGenerator) -> None:
        self.generator = generator
        self.model = generator.model
        self.workers = 1
        self.stepped = threading.Event()

    def render(self, spec, image, crf, tags, on_step=None, should_stop=None):
        def hold(step: int, total: int) -> None:
            self.stepped.set()
            wait(should_stop)

        return self.generator.render(spec, image, crf, tags, hold, should_stop)


def test_stop_interrupts_the_clip_in_flight_and_writes_nothing(generator, cache):
    held = HeldAtFirstStep(generator)
    worker = ClipWorker(lambda: cache, lambda: None)
    worker.submit(plan("slow", SLOW), lambda: held, {}, page_mtime=0.0, where="a.md:1")
    assert held.stepped.wait(60)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 5  # the loop ends after the current step
    assert not cache.has("slow")
    assert not list(cache.clips.glob("*"))  # no temp file left behind either


def test_a_clip_no_page_wants_any_more_is_stopped_in_flight_and_dropped_when_queued(generator, cache, caplog):
    """Three quick edits of one prompt: the first (rendering) and second (queued) are given up."""
    caplog.set_level("INFO", logger="mkdocs.plugins.mkdocs_wan")
    worker = ClipWorker(lambda: cache, lambda: None)
    try:
        worker.submit(plan("first", SLOW), lambda: generator, {}, page_mtime=1.0, where="a.md:3")
        wait(lambda: worker.running == "first")
        worker.submit(small("second"), lambda: generator, {}, page_mtime=2.0, where="a.md:3")
        worker.submit(small("third"), lambda: generator, {}, page_mtime=3.0, where="a.md:3")
        worker.retain({"third"})
        wait(lambda: not worker.busy)
    finally:
        worker.stop()
    assert cache.has("third") and not cache.has("first") and not cache.has("second")
    text = caplog.text
    assert "dropped queued clip for a.md:3 (no page uses it any more): second" in text
    assert "stopping the clip in flight: no page uses it any more" in text
    assert "cancelled clip for a.md:3 (nothing kept): A slow clip" in text
