"""The site's options: one schema for every front end, parsed into `Settings`."""
