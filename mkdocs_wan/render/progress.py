"""Progress of a clip being made, as whole log lines: readable in CI logs and under serve.

A terminal gets a tqdm bar instead (`make.generate_missing`); anywhere else `\\r` updates would
pile up into one unreadable line, so each clip logs when it starts, after its first step (the
model is working), at most every `INTERVAL` seconds after that, and when it is done.
"""

from __future__ import annotations

import time

from mkdocs_wan.logs import log

INTERVAL = 10.0  # seconds between progress lines of one clip


class ClipProgress:
    """Log lines for one clip: `name` says which (`clip 2/7`, `clip for page.md:3`)."""

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        self.title = title
        self.started = time.monotonic()
        self.last: float | None = None
        self.first: tuple[float, int] | None = None  # (time, steps done) at the first step

    def start(self) -> None:
        log.info("%s: generating %s", self.name, _short(self.title, 60))

    def step(self, step: int, steps: int, segment: int = 1, segments: int = 1) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < INTERVAL and not (step == steps and segment == segments):
            return
        self.last = now
        done, total = (segment - 1) * steps + step, segments * steps
        if self.first is None:
            self.first = (now, done)  # the pace is measured from here: loading the model is not a step
        since, done_then = self.first
        eta = _clock((now - since) / (done - done_then) * (total - done)) if done > done_then else "…"
        where = f", segment {segment}/{segments}" if segments > 1 else ""
        elapsed = _clock(now - self.started)
        # After the last step come the VAE decode and the encode: on a big clip as long as the steps.
        after = "; decoding and encoding the clip" if done == total else ""
        log.info("%s%s: step %d/%d, %s elapsed, ETA %s%s", self.name, where, step, steps, elapsed, eta, after)

    def done(self) -> None:
        log.info("%s: done in %s", self.name, _clock(time.monotonic() - self.started))


def _clock(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _short(text: str, width: int = 32) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
