"""`mkdocs-wan lsp`: the editor loop's language server (a front end over the page engine)."""
