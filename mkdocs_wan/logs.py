"""The one logger every module of mkdocs-wan writes to, without importing MkDocs.

Its name sits under `mkdocs.plugins`, so inside a build MkDocs' own handlers print it and count
its warnings for `--strict`; the `mkdocs_wan: ` prefix matches what MkDocs' `get_plugin_logger`
gives plugins. Ray actors and the Markdown extension use it without MkDocs installed.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

LOGGER_NAME = "mkdocs.plugins.mkdocs_wan"


class _Prefixed(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"mkdocs_wan: {msg}", kwargs


log = _Prefixed(logging.getLogger(LOGGER_NAME), {})


def quoted(text: str, width: int = 60) -> str:
    """Text as a log line quotes it (a prompt, a model name): one line, shortened, and any control
    character escaped, so quoted text can never rewrite a terminal."""
    text = " ".join(text.split())
    text = text if len(text) <= width else text[: width - 1] + "…"
    # Not printable: C0/C1 controls, and format characters such as the bidi overrides that make a
    # terminal show text in another order than it was written.
    return text if text.isprintable() else repr(text)[1:-1]
