"""The embed HTML: valid attributes, accessibility, provenance, escaped text everywhere."""

from __future__ import annotations

import pytest
from conftest import start_tags

from mkdocs_wan.page.embed import error_html, placeholder_html, video_html
from mkdocs_wan.page.spec import ClipSpec, Presentation, SpecError, presentation_of

pytestmark = pytest.mark.timeout(60)  # unit tests: seconds, not minutes

SPEC = ClipSpec("x", "", 1, 9, 24, 640, 352, 2, 5.0)


def video(show: Presentation | None = None, frames: int = 9) -> dict[str, str | None]:
    html = video_html("v.mp4", "v.jpg", SPEC, frames, "A kite", "k", show or Presentation())
    return dict(start_tags(html))["video"]


def test_video_attributes():
    html = video_html("../assets/videos/k.mp4", "../assets/videos/k.jpg", SPEC, 9, "A kite", "k")
    tags = start_tags(html)
    assert [t for t, _ in tags] == ["figure", "video", "span", "figcaption"]
    attrs = tags[1][1]
    assert attrs["src"] == "../assets/videos/k.mp4" and attrs["poster"] == "../assets/videos/k.jpg"
    assert (attrs["width"], attrs["height"]) == ("640", "352")
    assert {"muted", "loop", "playsinline", "data-wan-autoplay", "controls"} <= set(attrs)
    assert "autoplay" not in attrs  # the script starts it, unless the reader prefers reduced motion
    assert attrs["preload"] == "metadata"
    assert attrs["aria-label"] == "Generated clip: A kite"
    label = {"class": "wan-video-label", "id": attrs["aria-describedby"], "data-search-exclude": None}
    assert tags[2] == ("span", label)
    assert "AI-generated" in html and "<figcaption>A kite</figcaption>" in html


def test_switches_alt_and_caption():
    still = video(Presentation(autoplay=False, loop=False, controls=False))
    assert {"autoplay", "data-wan-autoplay", "loop", "controls"}.isdisjoint(still)
    assert video(Presentation(alt="A red kite on a blue sky"))["aria-label"] == "A red kite on a blue sky"
    html = video_html("v.mp4", "v.jpg", SPEC, 9, "A kite", "k", Presentation(caption=""), label=False)
    assert "figcaption" not in html  # no visible label, but the video is still described as AI-generated
    assert '<span class="wan-video-label wan-visually-hidden" id="wan-ai-k"' in html
    html = video_html("v.mp4", "v.jpg", SPEC, 9, "A kite", "k", Presentation(caption="Close up"))
    assert "<figcaption>Close up</figcaption>" in html


def test_autoplaying_clips_that_loop_or_run_long_keep_their_controls():
    """WCAG 2.2.2: moving content that starts by itself and loops, or lasts more than 5 s, is pausable."""
    assert "controls" in video(Presentation(controls=False), frames=9)  # loops
    once = Presentation(controls=False, loop=False)
    assert "controls" in video(once, frames=121)  # 121 frames at 24 fps = 5.04 s
    assert "controls" not in video(once, frames=97)  # 4 s, once
    assert "controls" not in video(Presentation(controls=False, autoplay=False), frames=121)


def test_placeholder_names_follow_their_state():
    pending = dict(start_tags(placeholder_html(SPEC, "A kite", "k")))["div"]["aria-label"]
    absent = dict(start_tags(placeholder_html(SPEC, "A kite", "k", "not generated")))["div"]["aria-label"]
    assert (pending, absent) == ("Generating clip: A kite", "Clip not generated: A kite")


def test_provenance_data_attributes():
    html = video_html("v.mp4", None, SPEC, 9, "A kite", "k", provenance={"model": "tiny", "seed": "7"})
    figure = dict(start_tags(html))["figure"]
    assert figure["data-model"] == "tiny" and figure["data-seed"] == "7" and figure["data-wan-key"] == "k"
    assert "poster" not in dict(start_tags(html))["video"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, Presentation()),
        ({"caption": "false"}, Presentation(caption="")),
        ({"caption": False}, Presentation(caption="")),
        ({"caption": "Hi"}, Presentation(caption="Hi")),
        ({"autoplay": "no", "loop": False, "controls": "1"}, Presentation(autoplay=False, loop=False)),
        ({"alt": "Name"}, Presentation(alt="Name")),
    ],
)
def test_presentation_options(options, expected):
    assert presentation_of(options) == expected


def test_presentation_rejects_nonsense():
    with pytest.raises(SpecError, match="autoplay must be true or false"):
        presentation_of({"autoplay": "sometimes"})
    with pytest.raises(SpecError, match="caption must be text"):
        presentation_of({"caption": 3})


def test_prompt_caption_and_provenance_are_escaped():
    evil = '"><script>alert(1)</script><b x="'
    html = video_html("v.mp4", "v.jpg", SPEC, 9, evil, "k", Presentation(caption=evil), {"prompt": evil})
    assert "<script>" not in html and "<b " not in html
    assert [t for t, _ in start_tags(html)] == ["figure", "video", "span", "figcaption"]
    assert dict(start_tags(html))["video"]["aria-label"] == "Generated clip: " + evil
    assert "<script>" not in placeholder_html(SPEC, evil, "k") + placeholder_html(SPEC, "x", "k", state=evil)


def test_error_note_is_escaped():
    html = error_html("page.md:3", "unknown option '<img src=x onerror=alert(1)>'")
    assert "<img" not in html and "page.md:3" in html
