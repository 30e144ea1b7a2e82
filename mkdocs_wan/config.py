"""The `wan` plugin's options in mkdocs.yml: MkDocs' `base.Config`, built from `options.OPTIONS`.

Names and defaults are a public contract and are declared once, in `options.py`; this module
only adapts each declared parser to MkDocs' config validation.
"""

from __future__ import annotations

from typing import Any

from mkdocs.config import base

from mkdocs_wan.page.spec import SpecError
from mkdocs_wan.settings.options import OPTIONS, Option


class _Validated(base.BaseConfigOption[Any]):
    """One declared option, validated by its own parser (the same one the extension uses)."""

    def __init__(self, option: Option) -> None:
        super().__init__()
        self.option = option
        self.default = option.default

    def run_validation(self, value: object) -> Any:
        try:
            return self.option.validate(value)
        except SpecError as err:
            raise base.ValidationError(str(err)) from None


WanConfig = type("WanConfig", (base.Config,), {name: _Validated(option) for name, option in OPTIONS.items()})
WanConfig.__doc__ = "The `wan` plugin's options (see `options.OPTIONS`)."
