"""The ledger: the app's database of commits, pull requests, events and derived tasks.

A pure I/O adapter around ``bot.records`` and ``bot.attribution``: the engine never imports it.
Schema and operations are described in docs/ledger.md.

Names are loaded on first use, so ``from bot.ledger.cli import migrate_command`` does not import
SQLAlchemy and Alembic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.ledger.cli import migrate_command
    from bot.ledger.db import (
        alembic_config,
        current_revision,
        database_url,
        display_url,
        head_revision,
        make_engine,
        migrate,
        write_lock,
    )
    from bot.ledger.schema import (
        TABLE_NAMES,
        TABLES,
        AttemptRow,
        CommitRow,
        DigestSendRow,
        EventRow,
        FileChangeRow,
        InstallationRow,
        Money,
        PullRequestRow,
        RepositoryRow,
        TaskRow,
        UsageLineRow,
        UTCDateTime,
        metadata,
    )
    from bot.ledger.store import (
        BATCH_SIZE,
        INSTALLATION_STATES,
        DigestSend,
        StoredComment,
        adopt_branch_commits,
        claim_digest_send,
        finish_digest_send,
        installation_state,
        load_commits,
        load_digest_sends,
        load_events,
        load_evidence,
        load_pr_comment,
        load_pull_requests,
        load_tasks,
        open_pull_request_for_branch,
        pull_request_for_sha,
        replace_tasks,
        save_pr_comment,
        set_installation_state,
        upsert_commits,
        upsert_events,
        upsert_installation,
        upsert_pull_requests,
        upsert_repository,
    )

_MODULES = {
    "cli": ("migrate_command",),
    "db": (
        "alembic_config",
        "current_revision",
        "database_url",
        "display_url",
        "head_revision",
        "make_engine",
        "migrate",
        "write_lock",
    ),
    "schema": (
        "TABLE_NAMES",
        "TABLES",
        "AttemptRow",
        "CommitRow",
        "DigestSendRow",
        "EventRow",
        "FileChangeRow",
        "InstallationRow",
        "Money",
        "PullRequestRow",
        "RepositoryRow",
        "TaskRow",
        "UsageLineRow",
        "UTCDateTime",
        "metadata",
    ),
    "store": (
        "BATCH_SIZE",
        "load_commits",
        "load_events",
        "load_evidence",
        "load_pull_requests",
        "load_tasks",
        "replace_tasks",
        "upsert_commits",
        "upsert_events",
        "upsert_installation",
        "upsert_pull_requests",
        "upsert_repository",
        "set_installation_state",
        "INSTALLATION_STATES",
        "installation_state",
        "open_pull_request_for_branch",
        "pull_request_for_sha",
        "adopt_branch_commits",
        "StoredComment",
        "load_pr_comment",
        "save_pr_comment",
        "DigestSend",
        "claim_digest_send",
        "finish_digest_send",
        "load_digest_sends",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AttemptRow",
    "BATCH_SIZE",
    "CommitRow",
    "DigestSend",
    "DigestSendRow",
    "EventRow",
    "FileChangeRow",
    "InstallationRow",
    "Money",
    "PullRequestRow",
    "RepositoryRow",
    "TABLES",
    "TABLE_NAMES",
    "TaskRow",
    "UTCDateTime",
    "UsageLineRow",
    "adopt_branch_commits",
    "StoredComment",
    "claim_digest_send",
    "finish_digest_send",
    "load_digest_sends",
    "alembic_config",
    "current_revision",
    "database_url",
    "display_url",
    "head_revision",
    "load_commits",
    "load_events",
    "load_evidence",
    "load_pr_comment",
    "load_pull_requests",
    "load_tasks",
    "make_engine",
    "metadata",
    "migrate",
    "migrate_command",
    "replace_tasks",
    "save_pr_comment",
    "upsert_commits",
    "upsert_events",
    "upsert_installation",
    "upsert_pull_requests",
    "upsert_repository",
    "write_lock",
    "set_installation_state",
    "INSTALLATION_STATES",
    "installation_state",
    "open_pull_request_for_branch",
    "pull_request_for_sha",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
