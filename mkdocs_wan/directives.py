"""`mkdocs_wan.directives.fence_format`, the name a site's mkdocs.yml gives SuperFences for the
fenced form (`!!python/name:…`), kept where it always was; the parser lives in `page.directives`."""

from mkdocs_wan.page.directives import fence_format

__all__ = ["fence_format"]
