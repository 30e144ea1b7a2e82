"""The local generation service: one resident model for every client (`mkdocs-wan service`).

`run` starts it, `guard` checks every request, `app` holds the API, `jobs` the queue and its
worker, `page` the page for people. Clients find it with `render.remote.find_service`.
"""
