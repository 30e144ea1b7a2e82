"""Reading pages: directives in HTML and Markdown, their options, clip specs and the markup that replaces them.

Pure text in, text and specs out: no cache, no model, no MkDocs.
"""
