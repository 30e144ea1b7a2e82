"""Rendering: the Wan pipelines (local or on Ray), tiny offline models, speed settings and progress.

The only package that imports torch and diffusers, and only when a clip is missing.
"""
