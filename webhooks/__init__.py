"""The Flask side of the GitHub App (webhook ingress, event routing, dashboard).

Built by the webhook issue; the engine in ``bot`` is usable without it.
"""
