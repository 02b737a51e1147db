"""The site's web pages (the agent desktop), served by the site process over HTTPS.

A client of the site's own gRPC API (``AgentDesk``), like any other desktop: it never
reaches into the site's core. Starlette on uvicorn; server push over Server-Sent Events
fed by the signed-in agent's ``AgentDesk.Events`` stream; plain HTML, CSS and a small
vanilla script in :mod:`vcc_site.web` ``static/`` (no build step).
"""
