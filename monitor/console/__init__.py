"""The web console for compliance staff: an ASGI app (FastAPI) whose pages are rendered on the
server from templates/console, with a JSON API beside them. Nothing in it is reachable
without a login, and nothing an ad or a saved page carries runs in its origin (DESIGN
invariants 4 and 6; docs/console.md)."""
