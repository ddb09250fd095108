"""The Flask side of the GitHub App (webhook ingress, event routing, dashboard).

``gunicorn 'webhooks:create_app()'`` serves it; the engine in ``bot`` is usable without it.
``create_app`` is loaded on first use, so the worker's ``import webhooks.router`` needs no Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhooks.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name != "create_app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from webhooks.app import create_app

    return create_app
