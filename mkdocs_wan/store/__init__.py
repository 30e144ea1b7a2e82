"""The clip store: cache keys, the cache folder's layout, and the content-addressed clip cache."""
