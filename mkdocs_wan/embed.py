"""HTML that replaces a directive: the clip's `<figure>`, or a visible note when it failed.

Every piece of writer-supplied text is escaped here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from mkdocs_wan.spec import ClipSpec, Presentation

#: WCAG 2.2.2: moving content that starts by itself and lasts longer than this needs a pause control.
PAUSE_CONTROL_SECONDS = 5.0


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
) -> str:
    """A muted, inline-playing clip with an accessible name, caption, poster and provenance.

    `prompt` is the writer's prompt as shown to readers (without the site `style`).
    """
    caption = prompt if show.caption is None else show.caption
    name = show.alt or f"Generated clip: {prompt}"
    # An autoplaying clip longer than 5 s keeps its controls, whatever the directive says.
    controls = show.controls or (show.autoplay and frames / spec.fps > PAUSE_CONTROL_SECONDS)
    flags = [flag for flag, on in (("loop", show.loop), ("autoplay", show.autoplay), ("controls", controls)) if on]
    data = "".join(f' data-{name}="{escape(value)}"' for name, value in (provenance or {}).items())
    return (
        f'<figure class="wan-video" data-wan-key="{key}"{data}>'
        f'<video src="{escape(src)}"'
        + (f' poster="{escape(poster)}"' if poster else "")
        + f' width="{spec.width}" height="{spec.height}" muted playsinline {" ".join(flags)} preload="metadata"'
        f' aria-label="{escape(name)}"></video>'
        # The space keeps search text apart ("AI-generated A kite"); Material's search skips the label.
        + ('<span class="wan-video-label" data-search-exclude>AI-generated</span> ' if label else "")
        + (f"<figcaption>{escape(caption)}</figcaption>" if caption else "")
        + "</figure>"
    )


def error_html(where: str, problem: str) -> str:
    """A visible note in place of the video, styled like an admonition in most themes."""
    return (
        '<div class="admonition failure wan-video-error" role="note">'
        '<p class="admonition-title">Video not generated</p>'
        f"<p><code>{escape(where)}</code>: {escape(problem)}</p></div>"
    )


def placeholder_html(spec: ClipSpec, prompt: str, key: str, state: str = "generating…") -> str:
    """A box the size of the clip, shown while it generates (serve) or when it is not cached."""
    box = (
        f"width:{spec.width}px;max-width:100%;aspect-ratio:{spec.width}/{spec.height};display:flex;"
        "flex-direction:column;align-items:center;justify-content:center;gap:.5em;box-sizing:border-box;"
        "padding:1em;border:1px dashed currentColor;border-radius:.2rem;opacity:.75;text-align:center"
    )
    return (
        f'<figure class="wan-video wan-video-pending" data-wan-key="{key}">'
        f'<div class="wan-placeholder" role="img" aria-label="{escape("Generating clip: " + prompt)}" '
        f'style="{box}"><strong>{escape(state)}</strong><span>{escape(prompt)}</span></div></figure>'
    )
