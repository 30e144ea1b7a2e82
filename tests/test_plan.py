"""Segmented clips: chained keys, crossfaded frame counts, real conditioning on the last frame."""

from __future__ import annotations

import numpy as np
import pytest

from mkdocs_wan.assembly.jobs import run_plan
from mkdocs_wan.assembly.plan import Generate, Stitch, plan_clip
from mkdocs_wan.media.encode import count_frames, decode_mp4, encode_mp4
from mkdocs_wan.media.pictures import load_image
from mkdocs_wan.media.stitch import crossfade_stream
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import MAX_SEGMENTS, SpecError
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.store.cache import ClipCache
from tests.test_spec import DEFAULTS

FP = "tiny/v2"


def segments(*prompts, **options):
    return {"segments": list(prompts), **options}


def test_plain_directive_is_one_step():
    plan = plan_clip({"prompt": "A kite"}, DEFAULTS, "", FP, 20)
    assert len(plan.steps) == 1 and isinstance(plan.steps[0], Generate)
    assert plan.frames == 9 and plan.title == "A kite"


def test_segment_keys_chain_and_stitch_count():
    plan = plan_clip(segments("a", {"prompt": "b", "frames": 13}, "c", transition=2), DEFAULTS, "", FP, 20)
    *parts, stitch = plan.steps
    assert isinstance(stitch, Stitch) and stitch.parts == tuple(p.key for p in parts)
    assert [p.spec.frames for p in parts] == [9, 13, 9]
    assert plan.frames == 9 + 13 + 9 - 2 * 2
    assert parts[0].spec.image is None
    assert [p.spec.image for p in parts[1:]] == [f"clip:{parts[0].key}", f"clip:{parts[1].key}"]
    assert plan.title == "a → b → c"
    assert len({p.spec.seed for p in parts}) == 3  # a seed family, one per segment


def test_editing_segment_three_changes_only_three_onwards():
    before = plan_clip(segments("a", "b", "c", "d"), DEFAULTS, "", FP, 20).steps
    after = plan_clip(segments("a", "b", "c edited", "d"), DEFAULTS, "", FP, 20).steps
    same = [x.key == y.key for x, y in zip(before, after, strict=True)]
    assert same == [True, True, False, False, False]


def test_style_and_seed_shape_the_seed_family():
    base = plan_clip(segments("a", "b"), DEFAULTS, "", FP, 20).steps
    styled = plan_clip(segments("a", "b"), DEFAULTS, "noir", FP, 20).steps
    seeded = plan_clip(segments("a", "b", seed=5), DEFAULTS, "", FP, 20).steps
    assert base[1].spec.seed != styled[1].spec.seed and base[1].spec.seed != seeded[1].spec.seed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"segments": "a"}, "non-empty list"),
        ({"segments": []}, "non-empty list"),
        (segments(*"abcdefghi"), f"at most {MAX_SEGMENTS} segments"),
        (segments("a", {"prompt": "b", "size": "64x64"}), "segment 2 must be a prompt or a mapping"),
        (segments("a", {"prompt": "b", "frames": 10}), "segment 2: frames must be 4k\\+1"),
        (segments("a", "b", transition=9), "transition must be between 0 and 8"),
        (segments("a", "", transition=1), "segment 2: the prompt is empty"),
    ],
)
def test_segment_validation(options, message):
    with pytest.raises(SpecError, match=message):
        plan_clip(options, DEFAULTS, "", FP, 20)


def crossfade(clips, transition):
    return np.stack(list(crossfade_stream(clips, transition)))


def test_crossfade_blends_the_overlap():
    a = np.zeros((5, 2, 2, 3), np.uint8)
    b = np.full((5, 2, 2, 3), 200, np.uint8)
    out = crossfade([a, b, a], 2)
    assert len(out) == 5 + 5 + 5 - 2 * 2
    assert [round(f.mean()) for f in out] == [0, 0, 0, 67, 133, 200, 133, 67, 0, 0, 0]


def _whole_crossfade(clips, transition):
    """The crossfade as arithmetic on whole arrays (what the stitch computed before streaming)."""
    out = clips[0].astype(np.float32)
    alpha = (np.arange(1, transition + 1, dtype=np.float32) / (transition + 1))[:, None, None, None]
    for clip in clips[1:]:
        nxt = clip.astype(np.float32)
        blend = out[-transition:] * (1 - alpha) + nxt[:transition] * alpha if transition else nxt[:0]
        out = np.concatenate([out[: len(out) - transition], blend, nxt[transition:]])
    return np.clip(out.round(), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("lengths, transition", [((5, 5, 5), 2), ((9, 9, 9), 8), ((3, 4, 9, 2), 1), ((4, 4), 0)])
def test_the_streamed_crossfade_is_the_whole_array_crossfade(lengths, transition):
    rng = np.random.default_rng(sum(lengths) + transition)
    clips = [rng.integers(0, 256, (n, 3, 2, 3), dtype=np.uint8) for n in lengths]
    streamed, whole = crossfade(clips, transition), _whole_crossfade(clips, transition)
    assert streamed.shape == whole.shape and np.abs(streamed.astype(int) - whole).max() <= 1


def test_stitching_holds_a_few_frames_however_long_the_clip(tmp_path):
    """Eight segments of 49 frames at 256x256 (59 MB of frames decoded): the stitch's peak Python
    memory (numpy arrays included) stays within (transition + 6) frames, and the checks still see
    every frame."""
    import tracemalloc

    from mkdocs_wan.media.stitch import stitch

    rng = np.random.default_rng(0)
    parts = []
    for index in range(8):
        path = tmp_path / f"part{index}.mp4"
        base = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        moving = np.stack([np.roll(base, 3 * step, axis=1) for step in range(49)])
        encode_mp4(moving, path, 16, 30)
        parts.append(path)
    frame = 256 * 256 * 3
    tracemalloc.start()
    try:
        made = stitch(parts, 4, tmp_path / "long.mp4", 16, 30, {"title": "long"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert made.frames == 8 * 49 - 7 * 4 == count_frames(tmp_path / "long.mp4")
    assert made.quality is None and made.first_frame.shape == (256, 256, 3)
    assert peak < (4 + 6) * frame * 4, f"peak {peak / 1e6:.1f} MB"  # float32 blends count 4 bytes a value


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return WanGenerator(ModelRef.resolve("tiny", tmp_path_factory.mktemp("m")), tmp_path_factory.mktemp("c"))


def test_real_segments_are_conditioned_on_the_previous_last_frame(generator, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    plan = plan_clip(segments("A red kite", "The kite climbs", transition=3), DEFAULTS, "", FP, 20)
    run_plan(plan, cache, generator, {})
    first, second, stitch = plan.steps
    assert count_frames(cache.path(stitch.key)) == 9 + 9 - 3

    # Re-running segment 2 from the decoded last frame of segment 1 reproduces it exactly, and
    # from any other picture it does not: that frame is what the I2V pipeline was given.
    anchor = load_image(cache.path(first.key))
    stored = decode_mp4(cache.path(second.key))
    for image, expected in ((anchor, True), (decode_mp4(cache.path(first.key))[0], False)):
        encode_mp4(generator.generate(second.spec, image), tmp_path / "again.mp4", second.spec.fps)
        assert np.array_equal(decode_mp4(tmp_path / "again.mp4"), stored) is expected


def test_editing_a_segment_regenerates_it_and_later_ones_only(generator, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    run_plan(plan_clip(segments("one", "two", "three"), DEFAULTS, "", FP, 20), cache, generator, {})
    stamps = {key: cache.index[key]["created"] for key in list(cache.index)}
    edited = plan_clip(segments("one", "two edited", "three"), DEFAULTS, "", FP, 20)
    run_plan(edited, cache, generator, {})
    one, two, three, stitched = edited.steps
    assert cache.index[one.key]["created"] == stamps[one.key]  # reused
    assert two.key not in stamps and three.key not in stamps and stitched.key not in stamps
    assert count_frames(cache.path(stitched.key)) == 9 * 3 - 4 * 2
