"""`python -m mkdocs_wan` runs the `mkdocs-wan` command."""

from mkdocs_wan.cli import cli

cli(prog_name="mkdocs-wan")
