"""The embed HTML: valid attributes, escaped text everywhere."""

from __future__ import annotations

from html.parser import HTMLParser

from mkdocs_wan.embed import error_html, video_html
from mkdocs_wan.spec import ClipSpec

SPEC = ClipSpec("x", "", 1, 9, 24, 640, 352, 2, 5.0)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_video_attributes():
    tags = parse(video_html("../assets/videos/k.mp4", SPEC, "A kite", "k"))
    assert [t for t, _ in tags] == ["figure", "video", "figcaption"]
    video = tags[1][1]
    assert video["src"] == "../assets/videos/k.mp4"
    assert (video["width"], video["height"]) == ("640", "352")
    assert {"muted", "loop", "playsinline", "autoplay", "controls"} <= set(video)
    assert video["preload"] == "metadata"
    assert video["aria-label"] == "Generated clip: A kite"


def test_prompt_and_caption_are_escaped():
    evil = '"><script>alert(1)</script><b x="'
    html = video_html("v.mp4", SPEC, evil, "k", caption=evil)
    assert "<script>" not in html and "<b " not in html
    assert [t for t, _ in parse(html)] == ["figure", "video", "figcaption"]
    assert parse(html)[1][1]["aria-label"] == "Generated clip: " + evil


def test_caption_override_and_empty_caption():
    assert "<figcaption>Close up</figcaption>" in video_html("v.mp4", SPEC, "A kite", "k", caption="Close up")
    assert "figcaption" not in video_html("v.mp4", SPEC, "A kite", "k", caption="")


def test_error_note_is_escaped():
    html = error_html("page.md:3", "unknown option '<img src=x onerror=alert(1)>'")
    assert "<img" not in html and "page.md:3" in html
