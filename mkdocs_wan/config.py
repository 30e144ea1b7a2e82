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


class _Options(base.Config):
    def validate(self) -> tuple[list[tuple[str, Exception]], list[tuple[str, str]]]:
        """MkDocs only warns about an unknown option and builds on with the default (a typo in
        `frames` would cost minutes per clip): an unknown name fails, with a did-you-mean."""
        failed, warnings = super().validate()
        for key, message in list(warnings):
            if message.startswith("Unrecognised configuration name"):
                warnings.remove((key, message))
                import difflib  # only for a did-you-mean

                close = difflib.get_close_matches(key, list(OPTIONS), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                failed.append((key, base.ValidationError(f"unknown option ({hint}known: {', '.join(OPTIONS)})")))
        return failed, warnings


WanConfig = type("WanConfig", (_Options,), {name: _Validated(option) for name, option in OPTIONS.items()})
WanConfig.__doc__ = "The `wan` plugin's options (see `options.OPTIONS`)."
