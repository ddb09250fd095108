"""The handlers of every event we process, one module per concern, combined on one router."""

from __future__ import annotations

from webhooks.router import Router

router = Router()
