"""installation and installation_repositories events: which accounts and repositories we serve.

A deleted or suspended installation stops being processed; the worker reads that from the
state recorded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.app.handlers.fields import Fields
from bot.app.router import Changes, HandlerContext, InstallationChange, Router

router = Router()

ACTIVE, SUSPENDED, DELETED = "active", "suspended", "deleted"


def _installation(payload: Mapping[str, Any], state: str) -> InstallationChange:
    installation = Fields(payload).obj("installation")
    return InstallationChange(
        installation_id=installation.integer("id"),
        account_login=installation.text("account.login"),
        state=state,
        created=installation.maybe_time("created_at"),
    )


def _full_names(payload: Mapping[str, Any], name: str) -> list[str]:
    return [repository.text("full_name") for repository in Fields(payload).objs(name)]


@router.register("installation", "created")
def installation_created(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """A new installation, with the repositories it was granted (none listed: all of them,
    which the worker learns from the API)."""
    return Changes(
        installation=_installation(payload, ACTIVE),
        repositories_added=_full_names(payload, "repositories"),
    )


@router.register("installation", "deleted")
def installation_deleted(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    return Changes(installation=_installation(payload, DELETED))


@router.register("installation", "suspend")
def installation_suspended(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    return Changes(installation=_installation(payload, SUSPENDED))


@router.register("installation", "unsuspend")
@router.register("installation", "new_permissions_accepted")
def installation_active(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Back in service, or still in service with the permissions it was asked for."""
    return Changes(installation=_installation(payload, ACTIVE))


@router.register("installation_repositories", "added")
@router.register("installation_repositories", "removed")
def installation_repositories(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Repositories granted or withdrawn; the installation changing them is in service."""
    return Changes(
        installation=_installation(payload, ACTIVE),
        repositories_added=_full_names(payload, "repositories_added"),
        repositories_removed=_full_names(payload, "repositories_removed"),
    )
