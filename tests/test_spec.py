"""Validating options into a ClipSpec: clear messages, named limits, reproducible defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mkdocs_wan.config import WanConfig
from mkdocs_wan.models.families import MAX_SIDE
from mkdocs_wan.page.spec import MAX_FRAMES, MAX_STEPS, MAX_TOKENS, SpecError, build_spec, default_seed
from mkdocs_wan.settings.options import Settings

pytestmark = pytest.mark.timeout(60)  # unit tests: seconds, not minutes

DEFAULTS = {
    "size": (64, 64), "frames": 9, "steps": 2, "fps": 24, "guidance": 5.0, "seed": None, "negative_prompt": "",
}  # fmt: skip


def spec(**options):
    return build_spec({"prompt": "A kite", **options}, DEFAULTS)


def test_defaults_fill_in_and_directive_overrides():
    s = spec(frames="17", size="128x96", seed="3", guidance="4.5", steps=4, fps=12)
    assert (s.frames, s.width, s.height, s.seed, s.guidance, s.steps, s.fps) == (17, 128, 96, 3, 4.5, 4, 12)
    assert spec().frames == 9


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"frames": "ten"}, "frames must be an integer, got 'ten'"),
        ({"frames": 4.5}, "frames must be an integer"),
        ({"frames": True}, "frames must be an integer"),
        ({"frames": 10}, r"frames must be 4k\+1 .* got 10; use 9 or 13"),
        ({"frames": 0}, "frames must be between 1 and"),
        ({"frames": 4001}, f"frames must be between 1 and {MAX_FRAMES}"),
        ({"size": "64"}, "size must look like WIDTHxHEIGHT"),
        ({"size": "64x48"}, "multiples of 32"),
        ({"size": "16x16"}, "at least 32"),
        ({"size": "7680x4320"}, f"at most {MAX_SIDE}"),
        ({"fps": 0}, "fps must be between 1 and"),
        ({"steps": -1}, "steps must be between 1 and"),
        ({"steps": 5000}, f"steps must be between 1 and {MAX_STEPS}"),
        ({"guidance": "high"}, "guidance must be a number"),
        ({"guidance": "nan"}, "guidance must be between"),
        ({"seed": -3}, "seed must be between 0 and"),
        ({"negative_prompt": 5}, "negative_prompt must be text"),
        ({"prompt": "   "}, "the prompt is empty"),
        ({"colour": "red"}, "unknown option 'colour'"),
        ({"sizee": "64x64"}, re.escape("unknown option 'sizee' (did you mean size? known: alt,")),
        ({"transition": 2}, "transition only applies to a directive with segments"),
        ({"frames": 241, "size": "1920x1088"}, f"over the limit of {MAX_TOKENS:,}"),
    ],
)
def test_rejections_say_what_is_wrong(options, message):
    with pytest.raises(SpecError, match=message):
        spec(**options)


def test_default_seed_comes_from_the_final_prompt():
    assert spec().seed == spec().seed == default_seed("A kite")
    assert spec(seed=0).seed == 0
    assert build_spec({"prompt": "A kite"}, DEFAULTS, style="watercolor").seed == default_seed("A kite, watercolor")
    assert default_seed("A kite") != default_seed("A dog")


def test_style_is_appended_to_every_prompt():
    assert build_spec({"prompt": "A kite"}, DEFAULTS, style=" flat pastel ").prompt == "A kite, flat pastel"


def test_site_defaults_are_validated_by_the_same_rules():
    """The format is checked with the option; the multiple is the model family's, before any page."""
    config = WanConfig()
    config.load_dict({"size": "100x100"})
    assert config.validate() == ([], [])
    with pytest.raises(SpecError) as err:
        Settings(dict(config), Path(), Path()).check_model()
    assert str(err.value) == (
        "size sides must be multiples of 32 and at least 32 for Wan2.2-TI2V-5B, got 100x100; "
        "use 96x96, 96x128, 128x96 or 128x128 — from the wan options in mkdocs.yml, for "
        "`model: Wan-AI/Wan2.2-TI2V-5B-Diffusers`"
    )
    config.load_dict({"size": "100 by 100"})
    assert [name for name, _ in config.validate()[0]] == ["size"]
    config = WanConfig()
    config.load_dict({"size": "640x352", "frames": 33})
    assert config.validate() == ([], [])
    assert Settings(dict(config), Path(), Path()).clip_defaults["size"] == (640, 352)


def test_known_texts_are_cleaned_as_ftfy_cleans_them():
    """The cleaned forms kept to spare a cached build the ftfy import are ftfy's own fixed points."""
    import html

    import ftfy

    from mkdocs_wan.page.spec import CLEANED, model_text

    for text, kept in CLEANED.items():
        cleaned = text
        for _ in range(8):
            again = " ".join(html.unescape(html.unescape(ftfy.fix_text(cleaned))).split())
            if again == cleaned:
                break
            cleaned = again
        assert kept == cleaned != text and model_text(text) == kept
