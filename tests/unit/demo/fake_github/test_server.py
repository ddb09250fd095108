"""The fake GitHub against PyGithub and raw HTTP: shapes, JWT and token checks, pagination,
records and faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from github import Auth, Github, GithubException, GithubIntegration

from bot.demo.fake_github.server import (
    ERROR,
    PRIMARY,
    SECONDARY,
    FakeGitHub,
    FileDiff,
    Person,
    added_file,
    generate_private_key,
)

APP_ID = 42
INSTALLATION = 7
REPO = "octo-org/service"
NO_PAUSE = {"seconds_between_requests": 0, "seconds_between_writes": 0}
BOT = Person("agent", "agent@bots.example", "agent[bot]", 900001, "Bot")


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=APP_ID, private_key=app_key) as server:
        server.add_installation(INSTALLATION, "octo-org")
        server.add_repo(REPO, INSTALLATION)
        yield server


def app_jwt(app_key: str, iss: object = APP_ID, lifetime: int = 300) -> str:
    issued = int(time.time()) - 60
    claims = {"iat": issued, "exp": issued + 60 + lifetime, "iss": str(iss)}
    return jwt.encode(claims, app_key, algorithm="RS256")


def client(fake: FakeGitHub, app_key: str) -> Github:
    auth = Auth.AppAuth(APP_ID, app_key).get_installation_auth(INSTALLATION)
    return Github(auth=auth, base_url=fake.url, per_page=100, lazy=True, **NO_PAUSE)


def token(fake: FakeGitHub, app_key: str) -> str:
    url = f"{fake.url}/app/installations/{INSTALLATION}/access_tokens"
    answer = requests.post(url, headers={"Authorization": f"Bearer {app_jwt(app_key)}"}, timeout=5)
    assert answer.status_code == 201
    return answer.json()["token"]


def test_token_exchange_needs_a_jwt_signed_by_the_app_key(fake, app_key):
    url = f"{fake.url}/app/installations/{INSTALLATION}/access_tokens"
    for credential in (
        app_jwt(generate_private_key()),  # another key
        app_jwt(app_key, iss=APP_ID + 1),
        app_jwt(app_key, lifetime=3600),  # GitHub allows 10 minutes at most
        "not-a-jwt",
    ):
        answer = requests.post(url, headers={"Authorization": f"Bearer {credential}"}, timeout=5)
        assert answer.status_code == 401, credential
    assert requests.post(url, timeout=5).status_code == 401
    issued = token(fake, app_key)
    assert issued.startswith(f"ghs_{APP_ID}_") and 480 <= len(issued) <= 560
    unknown = f"{fake.url}/app/installations/999/access_tokens"
    answer = requests.post(
        unknown, headers={"Authorization": f"Bearer {app_jwt(app_key)}"}, timeout=5
    )
    assert answer.status_code == 404


def test_repository_endpoints_need_a_token_of_the_installation(fake, app_key):
    fake.add_installation(8, "other-org")
    fake.add_repo("other-org/secret", 8)
    url = f"{fake.url}/repos/{REPO}"
    assert requests.get(url, timeout=5).status_code == 401
    bad = {"Authorization": "token ghs_nope"}
    assert requests.get(url, headers=bad, timeout=5).status_code == 401
    jwt_only = {"Authorization": f"Bearer {app_jwt(app_key)}"}
    assert requests.get(url, headers=jwt_only, timeout=5).status_code == 401
    good = {"Authorization": f"token {token(fake, app_key)}"}
    answer = requests.get(url, headers=good, timeout=5)
    assert answer.status_code == 200 and answer.json()["url"] == url
    other = requests.get(f"{fake.url}/repos/other-org/secret", headers=good, timeout=5)
    assert other.status_code == 404


def test_pygithub_pages_through_250_commits_with_link_headers(fake, app_key):
    shas = [fake.add_commit(REPO, f"Commit {i}", author=BOT) for i in range(250)]
    fake.add_pull(REPO, 1, head_ref="feature", commits=shas)
    commits = list(client(fake, app_key).get_repo(REPO).get_pull(1).get_commits())
    assert [c.sha for c in commits] == shas
    assert (commits[0].author.login, commits[0].author.id, commits[0].author.type) == (
        "agent[bot]",
        900001,
        "Bot",
    )
    assert commits[0].commit.message == "Commit 0"
    pages = fake.calls("GET", f"/repos/{REPO}/pulls/1/commits")
    assert [(r.query.get("page", "1"), r.query["per_page"]) for r in pages] == [
        ("1", "100"),
        ("2", "100"),
        ("3", "100"),
    ]


def test_commit_files_stats_and_pull_files(fake, app_key):
    diff = FileDiff("src/app.py", "@@ -1,2 +1,2 @@\n-old\n+new\n context")
    sha = fake.add_commit(REPO, "Change", files=[diff, added_file("README.md", "a", "b")])
    fake.add_pull(REPO, 2, head_ref="change", commits=[sha])
    repo = client(fake, app_key).get_repo(REPO)
    commit = repo.get_commit(sha)
    assert commit.stats.additions == 3 and commit.stats.deletions == 1
    assert [(f.filename, f.additions, f.deletions) for f in commit.files] == [
        ("src/app.py", 1, 1),
        ("README.md", 2, 0),
    ]
    files = list(repo.get_pull(2).get_files())
    assert files[1].patch == "@@ -0,0 +1,2 @@\n+a\n+b"
    assert len(fake.calls("GET", f"/repos/{REPO}/commits/{sha}")) == 1


def test_comments_are_created_edited_listed_and_deleted_by_the_bot(fake, app_key):
    fake.add_pull(REPO, 3, head_ref="x")
    fake.add_comment(REPO, 3, "LGTM", user=Person("Rev", "r@x.org", "reviewer", 3, "User"))
    issue = client(fake, app_key).get_repo(REPO).get_issue(3)
    made = issue.create_comment("<!-- yield-auditor -->\nfirst")
    made.edit("<!-- yield-auditor -->\nsecond")
    listed = list(issue.get_comments())
    assert [(c.user.login, c.body) for c in listed] == [
        ("reviewer", "LGTM"),
        ("yield-auditor[bot]", "<!-- yield-auditor -->\nsecond"),
    ]
    made.delete()
    assert [c.body for c in fake.comments(REPO, 3)] == ["LGTM"]
    posted = fake.calls("POST", f"/repos/{REPO}/issues/3/comments")
    assert posted[0].body == {"body": "<!-- yield-auditor -->\nfirst"}


def test_check_runs_and_contents(fake, app_key):
    sha = fake.add_commit(REPO, "Head")
    fake.set_content(REPO, ".github/yield-auditor.yml", "comment: quiet\n")
    fake.set_content(REPO, ".github/yield-auditor.yml", "comment: off\n", ref="dev")
    repo = client(fake, app_key).get_repo(REPO)
    run = repo.create_check_run("Token yield", sha, status="completed", conclusion="neutral")
    run.edit(output={"title": "Yield", "summary": "ok"})
    assert fake.check_runs(REPO)[0]["output"] == {"title": "Yield", "summary": "ok"}
    assert repo.get_contents(".github/yield-auditor.yml").decoded_content == b"comment: quiet\n"
    on_dev = repo.get_contents(".github/yield-auditor.yml", ref="dev")
    assert on_dev.decoded_content == b"comment: off\n"
    with pytest.raises(GithubException) as missing:
        repo.get_contents(".github/absent.yml")
    assert missing.value.status == 404


def test_hook_deliveries_page_by_cursor_and_redeliver(fake, app_key):
    for i in range(5):
        fake.add_delivery(f"guid-{i}", "push", status_code=500 if i % 2 else 200)
    integration = GithubIntegration(
        auth=Auth.AppAuth(APP_ID, app_key), base_url=fake.url, **NO_PAUSE
    )
    headers = {"Authorization": f"Bearer {app_jwt(app_key)}"}
    first = requests.get(f"{fake.url}/app/hook/deliveries?per_page=2", headers=headers, timeout=5)
    assert [d["guid"] for d in first.json()] == ["guid-4", "guid-3"]
    assert first.links["next"]["url"].startswith(f"{fake.url}/app/hook/deliveries?")
    assert first.json()[1]["status"] == "Invalid HTTP Response: 500"
    integration.requester.requestJsonAndCheck(
        "POST", f"/app/hook/deliveries/{fake.deliveries()[1].id}/attempts"
    )
    newest = fake.deliveries()[-1]
    assert (newest.guid, newest.redelivery, newest.status) == ("guid-1", True, "OK")


def test_every_answer_carries_rate_limit_headers(fake, app_key):
    answer = requests.get(f"{fake.url}/rate_limit", timeout=5)
    assert answer.json()["resources"]["core"]["limit"] == 5000
    missing = requests.get(f"{fake.url}/repos/{REPO}", timeout=5)
    for response in (answer, missing):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= {
            name.lower() for name in response.headers
        }


def test_faults_are_served_once_each_and_recorded(fake, app_key):
    url = f"{fake.url}/rate_limit"
    fake.fail("GET", "/rate_limit", ERROR, status=503)
    fake.fail("GET", "/rate_limit", SECONDARY, status=429, seconds=120)
    fake.fail("GET", "/rate_limit", PRIMARY, seconds=600)
    fake.fail("GET", "/rate_limit", SECONDARY)
    first, second, third, fourth, fifth = (requests.get(url, timeout=5) for _ in range(5))
    assert first.status_code == 503
    assert (second.status_code, second.headers["retry-after"]) == (429, "120")
    assert third.status_code == 403 and third.headers["x-ratelimit-remaining"] == "0"
    assert int(third.headers["x-ratelimit-reset"]) >= time.time() + 590
    assert third.json()["message"].startswith("API rate limit exceeded")
    assert fourth.status_code == 403 and "retry-after" not in fourth.headers
    assert "secondary rate limit" in fourth.json()["message"]
    assert fifth.status_code == 200
    assert [r.status for r in fake.calls("GET", "/rate_limit")] == [503, 429, 403, 403, 200]
    with pytest.raises(ValueError):
        fake.fail("GET", "/", "meteor")
