"""HTML that replaces a directive: the clip's `<figure>`, or a visible note when it failed.

Every piece of writer-supplied text is escaped here, in one place.
"""

from __future__ import annotations

from html import escape

from mkdocs_wan.spec import ClipSpec


def video_html(src: str, spec: ClipSpec, prompt: str, key: str, caption: str | None = None) -> str:
    """A muted, looping, inline-playing clip with its prompt as accessible name and caption.

    `prompt` is the writer's prompt as shown to readers (without the site `style`).
    """
    caption_text = prompt if caption is None else caption
    figcaption = f"<figcaption>{escape(caption_text)}</figcaption>" if caption_text else ""
    return (
        f'<figure class="wan-video" data-wan-key="{key}">'
        f'<video src="{escape(src)}" width="{spec.width}" height="{spec.height}" '
        'muted loop playsinline autoplay controls preload="metadata" '
        f'aria-label="{escape("Generated clip: " + prompt)}"></video>'
        f"{figcaption}</figure>"
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
