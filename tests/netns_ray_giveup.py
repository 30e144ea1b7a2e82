"""Ray gives up on a clip after three dead actors. Run only inside a private network namespace
(see test_ray.py), in a Ray runtime of its own: every actor it starts is killed on purpose."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import pytest

from mkdocs_wan.errors import GenerationError
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.render.raypool import ATTEMPTS, RayPool

pytestmark = pytest.mark.skipif(os.environ.get("MKDOCS_WAN_NETNS") != "1", reason="run by test_ray.py in a netns")


def test_a_clip_whose_actors_keep_dying_fails_after_three_attempts(tmp_path):
    import ray

    generator = WanGenerator(ModelRef.resolve("tiny", tmp_path), tmp_path)
    generator.load()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    pool = RayPool(generator, None)
    stop = threading.Event()

    def kill_every_actor() -> None:
        while not stop.is_set():
            for actor in list(pool.actors):
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_every_actor)
    killer.start()
    try:
        with pytest.raises(GenerationError, match=f"Ray actors died {ATTEMPTS} times rendering this clip"):
            pool.render(ClipSpec("A doomed clip", "", 1, 9, 24, 64, 64, 2, 5.0), None, 20, {})
    finally:
        stop.set()
        killer.join()
        ray.shutdown()
    assert ATTEMPTS == 3 and len(pool.actors) == 1 + ATTEMPTS  # the first actor and one replacement per death
