"""The GitHub App's web side, and only that: Flask views, sign-in and the dashboard.

``gunicorn 'webhooks:create_app()'`` serves it. What runs without Flask (event routing,
handlers, the worker and its GitHub steps) is ``bot.app``; ``bot`` imports this package only
from its composition roots, ``bot.cli`` and ``bot.demo``.
"""

from webhooks.app import create_app

__all__ = ["create_app"]
