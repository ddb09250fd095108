"""The fake GitHub's sign-in (the App's OAuth user-to-server flow) with httpx and PyGithub."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from github import Auth, Github, GithubException

from bot.demo.fake_github.server import ERROR, FakeGitHub

CALLBACK = "https://yield.example.test/login/callback"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=5) as server:
        server.add_installation(1, "acme")  # an organisation
        server.add_installation(2, "ada")  # ada's own account
        server.add_installation(3, "globex")
        server.add_installation(4, "initech")
        server.add_user("ada", 101, installations=[1, 2], admin_of=["globex"], name="Ada")
        server.add_user("bob", 102, installations=[3])
        yield server


def authorize(fake: FakeGitHub, *, client_id: str | None = None, state: str = "s-1",
              decision: str = "1", redirect_uri: str = CALLBACK) -> httpx.Response:  # fmt: skip
    """The page, then its form posted as the browser would; returns the redirect."""
    params = {
        "client_id": client_id or fake.oauth_client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    page = httpx.get(f"{fake.url}/login/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    assert fields["client_id"] == params["client_id"] and fields["state"] == state
    return httpx.post(f"{fake.url}/login/oauth/authorize", data={**params, "authorize": decision})


def code_from(answer: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    return query.get("code", [""])[0], query


def exchange(fake: FakeGitHub, code: str, *, secret: str | None = None, json_body=False,
             accept_json: bool = True, redirect_uri: str = CALLBACK) -> httpx.Response:  # fmt: skip
    fields = {
        "client_id": fake.oauth_client_id,
        "client_secret": secret or fake.oauth_client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    headers = {"Accept": "application/json"} if accept_json else {}
    url = f"{fake.url}/login/oauth/access_token"
    if json_body:
        return httpx.post(url, json=fields, headers=headers)
    return httpx.post(url, data=fields, headers=headers)


def test_the_whole_flow_with_pygithub(fake):
    fake.sign_in_as("ada")
    code, query = code_from(authorize(fake, state="xyz"))
    assert query["state"] == ["xyz"] and re.fullmatch(r"[0-9a-f]{20}", code)
    answer = exchange(fake, code)
    assert answer.status_code == 200
    token = answer.json()
    assert token["access_token"].startswith("ghu_") and token["token_type"] == "bearer"
    assert token["expires_in"] == 28800 and token["refresh_token"].startswith("ghr_")
    assert token["scope"] == ""

    gh = Github(auth=Auth.Token(token["access_token"]), base_url=fake.url, per_page=100)
    user = gh.get_user()
    assert (user.login, user.id, user.name) == ("ada", 101, "Ada")
    installations = list(user.get_installations())
    assert [i.id for i in installations] == [1, 2]
    acme, own = installations
    assert (acme.target_type, acme.account.login) == ("Organization", "acme")
    assert (own.target_type, own.account.login, own.account.id) == ("User", "ada", 101)
    assert own.app_id == 5
    member = user.get_organization_membership("acme")
    assert (member.role, member.state) == ("member", "active")
    admin = user.get_organization_membership("GLOBEX")  # logins are case-insensitive
    assert (admin.role, admin.state) == ("admin", "active")
    with pytest.raises(GithubException) as missing:
        user.get_organization_membership("initech")
    assert missing.value.status == 404
    assert [c.status for c in fake.calls("GET", "/user*")] == [200, 200, 200, 200, 404]


def test_codes_are_single_use_and_bound_to_the_redirect_uri(fake):
    fake.sign_in_as("bob")
    code, _ = code_from(authorize(fake))
    mismatch = exchange(fake, code, redirect_uri="https://elsewhere.test/cb").json()
    assert mismatch["error"] == "redirect_uri_mismatch"
    assert "access_token" in exchange(fake, code, json_body=True).json()  # a JSON body works
    again = exchange(fake, code)
    assert again.status_code == 200 and again.json()["error"] == "bad_verification_code"
    assert "access_token" not in again.json()


def test_wrong_secret_and_unknown_code(fake):
    fake.sign_in_as("bob")
    code, _ = code_from(authorize(fake))
    wrong = exchange(fake, code, secret="0" * 40)
    assert wrong.status_code == 200 and wrong.json()["error"] == "incorrect_client_credentials"
    assert exchange(fake, "f" * 20).json()["error"] == "bad_verification_code"
    assert "access_token" in exchange(fake, code).json()  # a refused attempt left the code


def test_form_encoded_answer_without_accept_json(fake):
    fake.sign_in_as("bob")
    code, _ = code_from(authorize(fake))
    answer = exchange(fake, code, accept_json=False)
    assert answer.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(answer.text)["access_token"][0].startswith("ghu_")


def test_cancel_redirects_with_access_denied(fake):
    fake.sign_in_as("ada")
    code, query = code_from(authorize(fake, decision="0", state="st"))
    assert code == "" and query["error"] == ["access_denied"] and query["state"] == ["st"]


def test_unknown_client_nobody_signed_in_and_registered_callbacks(fake):
    fake.sign_in_as("ada")
    unknown = httpx.get(f"{fake.url}/login/oauth/authorize", params={"client_id": "Iv1.nope"})
    assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
    fake.set_callback_urls("https://yield.example.test/login")
    assert code_from(authorize(fake))[0]  # below a registered URL
    other = httpx.get(
        f"{fake.url}/login/oauth/authorize",
        params={"client_id": fake.oauth_client_id, "redirect_uri": "https://evil.test/login"},
    )
    assert other.status_code == 400 and "redirect_uri" in other.text
    fake.sign_in_as(None)
    nobody = httpx.get(
        f"{fake.url}/login/oauth/authorize",
        params={"client_id": fake.oauth_client_id, "redirect_uri": CALLBACK},
    )
    assert nobody.status_code == 401
    with pytest.raises(KeyError):
        fake.sign_in_as("nobody")


def test_the_page_escapes_what_it_echoes(fake):
    fake.sign_in_as("ada")
    params = {"client_id": fake.oauth_client_id, "redirect_uri": CALLBACK, "state": '"><script>'}
    page = httpx.get(f"{fake.url}/login/oauth/authorize", params=params)
    assert "<script>" not in page.text and "&#34;&gt;&lt;script&gt;" in page.text


def test_user_endpoints_need_a_live_user_token(fake):
    for headers in ({}, {"Authorization": "token ghu_unknown"}):
        assert httpx.get(f"{fake.url}/user", headers=headers).status_code == 401
    token = fake.user_token("bob")
    fake.state.user_tokens[token] = ("bob", fake.state.user_tokens[token][1].replace(year=2000))
    expired = httpx.get(f"{fake.url}/user", headers={"Authorization": f"token {token}"})
    assert expired.status_code == 401


def test_installations_are_paginated_with_link_headers(fake):
    for i in range(10, 45):
        fake.add_installation(i, f"org-{i}")
    fake.add_user("many", 103, installations=list(range(10, 45)))
    headers = {"Authorization": f"Bearer {fake.user_token('many')}"}
    first = httpx.get(f"{fake.url}/user/installations", params={"per_page": 30}, headers=headers)
    assert first.json()["total_count"] == 35 and len(first.json()["installations"]) == 30
    assert 'rel="next"' in first.headers["link"] and first.headers["link"].startswith(
        f"<{fake.url}"
    )
    gh = Github(auth=Auth.Token(fake.user_token("many")), base_url=fake.url, per_page=30)
    assert [i.id for i in gh.get_user().get_installations()] == list(range(10, 45))


def test_explicit_memberships_and_faults(fake):
    fake.state.memberships[("ada", "initech")] = ("admin", "pending")
    gh = Github(auth=Auth.Token(fake.user_token("ada")), base_url=fake.url, retry=None)
    pending = gh.get_user().get_organization_membership("initech")
    assert (pending.role, pending.state) == ("admin", "pending")
    fake.fail("POST", "/login/oauth/access_token", ERROR, status=503)
    assert exchange(fake, "0" * 20).status_code == 503
    assert fake.calls("POST", "/login/oauth/access_token")[-1].status == 503
