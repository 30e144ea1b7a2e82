"""Ray backend cases. Run only inside a private network namespace (see test_ray.py): Ray
advertises the machine's network address, so here it may only ever see loopback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from mkdocs_wan.assembly.jobs import generate_missing
from mkdocs_wan.assembly.plan import Generate, Plan
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import ModelLoadError, WanGenerator
from mkdocs_wan.render.raypool import RayPool
from mkdocs_wan.store.cache import ClipCache

pytestmark = pytest.mark.skipif(os.environ.get("MKDOCS_WAN_NETNS") != "1", reason="run by test_ray.py in a netns")
TAGS = {"title": "t", "comment": "c"}


def spec(i: int, frames: int = 9) -> ClipSpec:
    return ClipSpec(f"Clip number {i}", "", i, frames, 24, 64, 64, 2, 5.0)


def plans(n: int, frames: int = 9) -> dict[str, Plan]:
    """Plans keyed like real clips (sha256-shaped: the cache lists only names it makes)."""
    keys = [f"{i:064x}" for i in range(n)]
    return {key: Plan((Generate(key, spec(i, frames)),), spec(i, frames), f"Clip {i}") for i, key in enumerate(keys)}


def test_unreachable_cluster_is_a_clear_error(tmp_path):
    generator = WanGenerator(ModelRef.resolve("tiny", tmp_path), tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1: .*ray start --head"):
        RayPool(generator, "127.0.0.1:1")
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    import ray
    import torch

    cache_dir = tmp_path_factory.mktemp("ray-cache")
    generator = WanGenerator(ModelRef.resolve("tiny", cache_dir), cache_dir)
    generator.load()  # builds the tiny checkpoint once, before the actors look for it
    torch.set_num_threads(1)  # like the actors (one CPU each): CPU float sums depend on it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield RayPool(generator, None), generator
    ray.shutdown()


def test_clips_are_byte_identical_to_the_local_backend(pool):
    ray_pool, local = pool
    assert ray_pool.workers == 2
    for i in range(3):
        remote = ray_pool.render(spec(i), None, 20, TAGS)
        assert remote.mp4 == local.render(spec(i), None, 20, TAGS).mp4


def test_killing_an_actor_mid_run_still_completes(pool, tmp_path, caplog):
    import ray

    ray_pool, _local = pool
    cache = ClipCache(tmp_path)
    jobs = plans(8, frames=17)

    def kill_after_first_clip() -> None:
        while not cache.clip_keys():
            time.sleep(0.02)
        ray.kill(ray_pool.actors[0])

    killer = threading.Thread(target=kill_after_first_clip)
    killer.start()
    with caplog.at_level(logging.WARNING):
        made, failures = generate_missing(jobs, cache, ray_pool, {})
    killer.join()
    assert failures == {} and made == set(jobs)
    assert all(cache.has(key) for key in jobs)
    assert "a Ray actor died while rendering" in caplog.text


def test_mkdocs_build_with_the_ray_backend(tmp_path):
    (tmp_path / "docs").mkdir()
    for i in range(3):
        (tmp_path / "docs" / f"p{i}.md").write_text(f"<!-- @video-gen A clip rendered by Ray {i} -->\n")
    options = {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2, "backend": "ray", "ray_actors": 2}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "Ray", "plugins": [{"wan": options}]}))
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 generated, 0 cached" in result.stderr and "Ray actors" in result.stderr
    assert len(list((tmp_path / "site" / "assets" / "videos").glob("*.mp4"))) == 3
