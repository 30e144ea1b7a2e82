"""mkdocs-wan: generate documentation clips with Wan2.2-TI2V-5B at build time.

Importing the package is cheap on purpose: torch and diffusers load only when a clip is missing.
"""

from __future__ import annotations

__version__ = "0.1.0"
