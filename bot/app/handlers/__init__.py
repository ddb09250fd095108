"""The handlers of every event we process, one module per concern, combined on one router.

docs/events.md lists every (event, action) handled and what it records.
"""

from __future__ import annotations

from bot.app.handlers import checks, installation, pull_request, push, reviews
from bot.app.router import Router

router = Router(
    pull_request.router, reviews.router, checks.router, push.router, installation.router
)
