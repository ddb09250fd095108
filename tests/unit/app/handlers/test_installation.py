"""installation and installation_repositories handlers against GitHub's payload examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app.handlers.installation import router
from bot.app.router import HandlerContext, InstallationChange, PayloadError
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "github-webhooks"
CODERTOCAT_CREATED = datetime(2019, 5, 15, 15, 19, 51, tzinfo=UTC)  # 1557933591 in the payload
SUSPENDED_CREATED = datetime(2021, 4, 29, 2, 32, 21, tzinfo=UTC)  # 2021-04-28T22:32:21.000-04:00


def load(event: str, action: str) -> dict:
    return json.loads((FIXTURES / event / f"{action}.payload.json").read_text())


def dispatch(event: str, action: str):
    return router.dispatch(event, load(event, action), HandlerContext())


def test_created_is_active_with_its_repositories():
    changes = dispatch("installation", "created")
    assert changes.installation == InstallationChange(
        957387, "Codertocat", "active", created=CODERTOCAT_CREATED
    )
    assert changes.repositories_added == ["Codertocat/Hello-World"]
    assert (changes.repository, changes.repositories_removed) == (None, [])


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("deleted", (2, "octocat", "deleted")),
        ("suspend", (16598467, "Codertocat", "suspended")),
        ("unsuspend", (16598467, "Codertocat", "active")),
        ("new_permissions_accepted", (957387, "Codertocat", "active")),
    ],
)
def test_state_changes(action, expected):
    changes = dispatch("installation", action)
    installation = changes.installation
    assert (
        installation.installation_id,
        installation.account_login,
        installation.state,
    ) == expected
    assert changes.repositories_added == changes.repositories_removed == []


def test_a_created_time_with_an_offset():
    assert dispatch("installation", "suspend").installation.created == SUSPENDED_CREATED


def test_repositories_added():
    changes = dispatch("installation_repositories", "added")
    assert (changes.installation.installation_id, changes.installation.state) == (957387, "active")
    assert (changes.repositories_added, changes.repositories_removed) == (["Codertocat/Space"], [])


def test_repositories_removed():
    changes = dispatch("installation_repositories", "removed")
    assert changes.installation.account_login == "octocat"
    assert (changes.repositories_added, changes.repositories_removed) == (
        [],
        ["octocat/Hello-World"],
    )


def test_an_installation_needs_its_account():
    payload = load("installation", "deleted")
    del payload["installation"]["account"]["login"]
    with pytest.raises(PayloadError, match="installation.account.login missing"):
        router.dispatch("installation", payload, HandlerContext())


def test_a_repository_needs_its_full_name():
    payload = load("installation_repositories", "added")
    payload["repositories_added"][0]["full_name"] = 42
    with pytest.raises(PayloadError, match=r"repositories_added\[0\].full_name invalid"):
        router.dispatch("installation_repositories", payload, HandlerContext())
