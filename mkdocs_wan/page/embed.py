"""HTML that replaces a directive: the clip's `<figure>`, or a visible note when it failed.

Every piece of writer-supplied text is escaped here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from mkdocs_wan.page.spec import ClipSpec, Presentation

#: The narrowest a clip or its box is shown: below it Chromium hides a video's play button and a
#: placeholder cannot hold its text. Smaller clips are shown scaled up to it (CSS still scales
#: every clip down to a narrower column).
MIN_WIDTH = "12rem"
MIN_WIDTH_PX = 192


def shown_size(spec: ClipSpec) -> tuple[int, int]:
    """The size a clip is shown at: its own, or scaled up (aspect kept) to at least MIN_WIDTH_PX wide."""
    if spec.width >= MIN_WIDTH_PX:
        return spec.width, spec.height
    return MIN_WIDTH_PX, round(spec.height * MIN_WIDTH_PX / spec.width)


#: WCAG 2.2.2: moving content that starts by itself and lasts longer than this needs a pause control.
PAUSE_CONTROL_SECONDS = 5.0


def needs_pause_control(show: Presentation, seconds: float) -> bool:
    """WCAG 2.2.2: a clip that starts by itself and loops, or runs longer than 5 s, must be pausable."""
    return show.autoplay and (show.loop or seconds > PAUSE_CONTROL_SECONDS)


def video_html(
    src: str,
    poster: str | None,
    spec: ClipSpec,
    frames: int,
    prompt: str,
    key: str,
    show: Presentation = Presentation(),  # noqa: B008 — frozen, shared safely
    provenance: Mapping[str, str] | None = None,
    label: bool = True,
    label_id: str = "",
    preview: bool = False,
) -> str:
    """A muted, inline-playing clip with an accessible name, caption, poster and provenance.

    `prompt` is the writer's prompt as shown to readers (without the site `style`). The clip has
    no `autoplay` attribute: `data-wan-autoplay` lets the plugin's script start it unless the
    reader prefers reduced motion (and without JavaScript nothing moves by itself). The AI label
    describes the video (`aria-describedby`), whatever `alt` says; with `label=False` it is only
    hidden from sight. A `preview` (made by the site's fast preview model) carries a visible
    "Preview" mark whatever `ai_label` says, so it is never taken for the final clip.
    """
    caption = prompt if show.caption is None else show.caption
    name = show.alt or f"Generated clip: {prompt}"
    controls = show.controls or needs_pause_control(show, frames / spec.fps)
    flags = [
        flag for flag, on in (("loop", show.loop), ("controls", controls), ("data-wan-autoplay", show.autoplay)) if on
    ]
    data = "".join(f' data-{name}="{escape(value)}"' for name, value in (provenance or {}).items())
    label_id = label_id or f"wan-ai-{key[:12]}"
    label_class = "wan-video-label" if label else "wan-video-label wan-visually-hidden"
    mark = '<span class="wan-video-preview">Preview</span> ' if preview else ""
    width, height = shown_size(spec)
    return (
        f'<figure class="wan-video{" wan-preview" if preview else ""}" data-wan-key="{key}"{data}>'
        f'<video src="{escape(src)}"'
        + (f' poster="{escape(poster)}"' if poster else "")
        + f' width="{width}" height="{height}" muted playsinline {" ".join(flags)} preload="metadata"'
        f' aria-label="{escape(name)}" aria-describedby="{label_id}"></video>'
        # The space keeps search text apart ("AI-generated A kite"); Material's search skips the label.
        + mark
        + f'<span class="{label_class}" id="{label_id}" data-search-exclude>AI-generated</span> '
        + (f"<figcaption>{escape(caption)}</figcaption>" if caption else "")
        + "</figure>"
    )


def error_html(where: str, problem: str, title: str = "Video not generated") -> str:
    """A visible note in place of the video, styled like an admonition in most themes."""
    return (
        '<div class="admonition failure wan-video-error" role="note">'
        f'<p class="admonition-title">{escape(title)}</p>'
        f"<p><code>{escape(where)}</code>: {escape(problem)}</p></div>"
    )


def withheld_html() -> str:
    """What readers of a published page get where review keeps a clip off it: a neutral note. The
    reason, the reviewer and the command go to the build log and to `mkdocs serve`'s page."""
    return (
        '<div class="admonition note wan-video-withheld" role="note">'
        '<p class="admonition-title">Video not available</p><p>This video is not available.</p></div>'
    )


def review_title(problem: str) -> str:
    """The note's title for a clip that review keeps off the page."""
    return "Rejected in review" if problem.startswith("rejected in review") else "Held for review"


def placeholder_html(spec: ClipSpec, prompt: str, key: str, state: str = "generating…") -> str:
    """A box the size of the clip, shown while it generates (serve) or when it is not cached."""
    # The clip's own size, but never smaller than a readable box (a 64x64 clip's box would spill
    # its text): the clip itself is shown at least as wide, see `.wan-video video` in the CSS.
    box = (
        f"width:max({spec.width}px,{MIN_WIDTH});max-width:100%;aspect-ratio:{spec.width}/{spec.height};"
        "display:flex;flex-direction:column;align-items:center;justify-content:center;gap:.5em;"
        "box-sizing:border-box;padding:1em;border:1px dashed currentColor;border-radius:.2rem;"
        "text-align:center;overflow-wrap:anywhere"
    )
    name = ("Generating clip: " if state.startswith("generating") else "Clip not generated: ") + prompt
    return (
        f'<figure class="wan-video wan-video-pending" data-wan-key="{key}">'
        f'<div class="wan-placeholder" role="img" aria-label="{escape(name)}" '
        f'style="{box}"><strong>{escape(state)}</strong><span>{escape(prompt)}</span></div></figure>'
    )


def gallery_html(items: Sequence[str], source: str, clips: int) -> str:
    """A batch's items (its `clips` clips, and a note for each bad row) as a list of figures in a
    responsive grid (`.wan-gallery` in the CSS): a list, so assistive technology announces it."""
    cells = "".join(f'<div class="wan-gallery-item" role="listitem">{item}</div>' for item in items)
    name = f"Gallery of {clips} clip{'s' if clips != 1 else ''}" + (f" from {source}" if source else "")
    return f'<div class="wan-gallery" role="list" aria-label="{escape(name)}">{cells}</div>'
