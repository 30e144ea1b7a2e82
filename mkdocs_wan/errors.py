"""Errors that cross stages; kept apart so front ends can catch them without importing model code."""

from __future__ import annotations


class GenerationError(RuntimeError):
    """A clip could not be made; the message says why and what to do."""


class ModelLoadError(GenerationError):
    """The model could not be loaded; no clip can be made until the cause is fixed."""


class GenerationCancelled(GenerationError):
    """Generation was interrupted on purpose (server shutdown); nothing was produced."""
