"""The container image: built and run by Docker's engine on PostgreSQL (where an engine runs;
.ci/run starts one), and, outside Docker, the entrypoint's roles as real processes on SQLite and
PostgreSQL, the health check, graceful shutdown, the wheel the builder stage makes, and the
Dockerfile's and compose file's structure."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from bot.demo.fake_github.server import FakeGitHub, Person, added_file, generate_private_key
from bot.ledger import inbox
from bot.ledger.db import current_revision, head_revision, make_engine, migrate
from tests import payloads as p
from tests.paths import ROOT
from tests.processes import Output
from tests.unit.webhooks.test_serve import (
    SECRET,
    deliver,
    environment,
    free_port,
    stop,
    wait_until_up,
)

DOCKER = ROOT / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
HEALTHCHECK = DOCKER / "healthcheck.py"
BIN = Path(sys.executable).parent  # yield-auditor and gunicorn, as on the image's PATH
T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def role_env(database_url: str, **extra: str) -> dict[str, str]:
    return environment(
        DATABASE_URL=database_url, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra
    )


def run_role(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def start_role(*args: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Output]:
    process = subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args], env=env, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, Output(process)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- roles


def test_migrate_role_brings_the_database_to_this_release(database_url, engine, tmp_path):
    done = run_role("migrate", env=role_env(database_url), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"at revision {head_revision()}" in done.stdout
    assert current_revision(engine) == head_revision()


def test_web_role_migrates_serves_and_stops_on_sigterm(database_url, engine, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = role_env(
        database_url, GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}", PORT=str(port),
        WEB_CONCURRENCY="2",
    )  # fmt: skip
    web, output = start_role("web", env=env, cwd=tmp_path)
    probe = f"probe-{uuid.uuid4().hex}"
    try:
        wait_until_up(base, web)
        assert current_revision(engine) == head_revision()  # migrated before listening
        payload = p.pull_request("opened", 3, head_ref="x", head_sha="ab" * 20, at=T0)
        assert deliver(base, "pull_request", payload, "web-1").status_code == 202
        assert inbox.get(engine, "web-1").status == "received"  # stored; workers process it
        assert httpx.get(f"{base}/healthz?token={probe}", timeout=5).status_code == 200
        assert healthcheck(port).returncode == 0
    finally:
        code = stop(web)
    assert code == 0, output.text
    assert healthcheck(port).returncode == 1  # nothing listens any more
    lines = [line for line in output.text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON, gunicorn's too
    assert {"gunicorn.error", "gunicorn.access"} <= {r["logger"] for r in records}
    assert any("Handling signal: term" in r["message"] for r in records)
    assert probe not in output.text and SECRET not in output.text  # no query strings logged


def healthcheck(port: int) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command, run as Docker runs it."""
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30
    )


class GatedGitHub:
    """The fake GitHub, holding every request until ``release``: a worker that made one is in
    the middle of a delivery for as long as the test wants."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.arrived, self.released = threading.Event(), threading.Event()
        self._app = fake.wsgi_app
        fake.wsgi_app = self

    def __call__(self, environ, start_response):
        self.arrived.set()
        self.released.wait(120)
        return self._app(environ, start_response)


def test_worker_role_finishes_the_delivery_it_holds_on_sigterm(database_url, engine, tmp_path):
    migrate(engine)
    key = generate_private_key()
    (tmp_path / "app.pem").write_text(key)
    fake = FakeGitHub(app_id=99, private_key=key)
    gate = GatedGitHub(fake)
    agent = Person("Claude", "noreply@anthropic.com", "claude[bot]", 209825114, "Bot")
    with fake:
        fake.add_installation(p.INSTALLATION, "octo-org")
        fake.add_repo(p.REPO, p.INSTALLATION)
        message = p.agent_message("Add the parser", "T-1", "economy", "claude-haiku-4-5")
        sha = fake.add_commit(p.REPO, message, author=agent, files=[added_file("a.py", "x = 1")])
        fake.add_pull(p.REPO, 7, head_ref="feature", commits=[sha])
        for n, guid in enumerate(("held", "next")):
            payload = p.pull_request("opened", 7 + n, head_ref="feature", head_sha=sha, at=T0)
            body = json.dumps(payload).encode()
            at = T0 + timedelta(seconds=n)
            assert inbox.store(engine, guid, "pull_request", body, payload, now=at)
        env = role_env(
            database_url, GITHUB_APP_ID="99", GITHUB_APP_PRIVATE_KEY_PATH=str(tmp_path / "app.pem"),
            GITHUB_API_URL=fake.url,
        )  # fmt: skip
        worker, output = start_role("worker", "--poll", "0.05", env=env, cwd=tmp_path)
        try:
            assert gate.arrived.wait(120), output.text
            assert inbox.get(engine, "held").status == "processing"
            worker.send_signal(signal.SIGTERM)
            output.wait_for("received SIGTERM: stopping")
            assert worker.poll() is None  # still busy with the delivery it holds
        finally:
            gate.released.set()
            code = stop(worker)
    assert code == 0, output.text
    held = inbox.get(engine, "held")
    assert (held.status, held.lease_owner) == ("done", None), output.text  # not left to its lease
    assert inbox.get(engine, "next").status == "received"  # left for the other workers


def test_scheduler_role_applies_the_retention_at_start_and_stops_on_sigterm(
    database_url, engine, tmp_path
):
    migrate(engine)
    now = datetime.now(UTC)
    for n, (guid, age) in enumerate((("old", 40), ("aged", 12), ("recent", 2))):
        payload = p.pull_request("opened", n, head_ref="x", head_sha="cd" * 20, at=T0)
        finished_at = now - timedelta(days=age)
        body = json.dumps(payload).encode()
        inbox.store(engine, guid, "pull_request", body, payload, ignored=True, now=finished_at)
    env = role_env(
        database_url, YIELD_AUDITOR_BODY_RETENTION_DAYS="10",
        YIELD_AUDITOR_DELIVERY_RETENTION_DAYS="30",
    )  # fmt: skip
    scheduler, output = start_role("scheduler", env=env, cwd=tmp_path)
    try:
        output.wait_for("1 bodies emptied, 1 deliveries deleted")
    finally:
        code = stop(scheduler)
    assert code == 0, output.text
    assert inbox.get(engine, "old") is None
    assert inbox.get(engine, "aged").body_purged  # 12 days: only with the 10 days configured
    assert not inbox.get(engine, "recent").body_purged


def test_with_migrations_off_a_role_refuses_a_database_behind(database_url, engine, tmp_path):
    env = role_env(database_url, YIELD_AUDITOR_MIGRATE_ON_START="false")
    refused = run_role("worker", "--once", env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert f"needs {head_revision()}: run `yield-auditor migrate`" in refused.stderr
    assert current_revision(engine) is None  # untouched
    assert run_role("migrate", env=env, cwd=tmp_path).returncode == 0
    assert run_role("worker", "--once", env=env, cwd=tmp_path).returncode == 0


def test_other_commands_pass_through(database_url, tmp_path):
    assert run_role("migrate", env=role_env(database_url), cwd=tmp_path).returncode == 0
    listed = run_role("inbox", "list", "--json", env=role_env(database_url), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("args", [["bogus"], [], ["--db"]])
def test_an_unknown_role_prints_the_usage_and_exits_2(args, tmp_path):
    done = run_role(*args, env=role_env("sqlite:///unused.db"), cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown role" in done.stderr and "usage: entrypoint.sh ROLE" in done.stderr
    assert not (tmp_path / "unused.db").exists()


def test_help_prints_the_usage(tmp_path):
    done = run_role("help", env=role_env("sqlite:///unused.db"), cwd=tmp_path)
    assert done.returncode == 0 and "worker" in done.stdout and "scheduler" in done.stdout


# --------------------------------------------------------------------------- the image's files


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions(dockerfile):
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def test_the_dockerfile_builds_in_two_stages_and_runs_as_a_user_with_a_health_check():
    builder, runtime = stages(ROOT / "Dockerfile")
    for stage in (builder, runtime):
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11-slim-\w+", image), image  # a tag, never latest
    assert builder[0][1].endswith("AS builder")
    final = dict(runtime)
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", final["USER"])  # a fixed uid, not root
    copied = [rest for word, rest in runtime if word == "COPY" and "--from" not in rest]
    [docker_files] = copied
    *sources, destination = docker_files.split()
    assert all((ROOT / source).is_file() for source in sources)
    entrypoint = json.loads(final["ENTRYPOINT"])
    assert entrypoint == [f"{destination}entrypoint.sh"]  # exec form: signals reach the role
    assert json.loads(final["CMD"]) == ["web"]
    check = json.loads(final["HEALTHCHECK"].split("CMD", 1)[1])
    assert check == ["python", f"{destination}healthcheck.py"]
    assert os.access(ENTRYPOINT, os.X_OK)


def test_the_builder_stage_wheel_carries_templates_static_files_and_migrations(tmp_path):
    """Copy what the builder stage copies, build the wheel from it, install it elsewhere and
    run the demo from there: every file of the packages (templates, static files, migrations,
    the App manifest) must be in it, and the installed code must find them there."""
    context = tmp_path / "context"
    builder = stages(ROOT / "Dockerfile")[0]
    for word, rest in builder:
        if word == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                copy_source(ROOT / source, context / source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "BuildBackendWarning" not in built.stderr, built.stderr  # e.g. a folder not listed
    [wheel] = (tmp_path / "dist").glob("*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    for package in ("bot", "webhooks"):
        assert package_files(ROOT / package) <= package_files(site / package), package
    assert package_files(ROOT / "templates") <= package_files(site / "bot" / "templates")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DATABASE_URL", None)
    demo = subprocess.run(
        [sys.executable, "-c", INSTALLED_DEMO, str(site), str(ROOT / "webhooks" / "app.yml")],
        cwd=elsewhere, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "**Yield Auditor**: spend so far" in demo.stdout


INSTALLED_DEMO = """
import sys
from pathlib import Path
import bot.render.audit, bot.render.jinja, webhooks.app, webhooks.setup
site, manifest = sys.argv[1:]
for path in (bot.render.audit.__file__, bot.render.jinja.TEMPLATES, webhooks.setup.MANIFEST_FILE):
    assert str(path).startswith(site), path
assert webhooks.setup.load_manifest() == webhooks.setup.load_manifest(Path(manifest))
app = webhooks.app.create_app()
assert app.test_client().get("/static/dashboard.css").status_code == 200
from bot.cli.main import main
main(["demo", "--exit", "--port", "0"])
"""


def test_the_packages_and_templates_hold_no_links():
    """Windows checkouts, zip archives and some builders copy a link as a file holding its
    target's path: the wheel carries real files only."""
    for top in ("bot", "webhooks", "templates"):
        links = [path for path in (ROOT / top).rglob("*") if path.is_symlink()]
        assert links == [], links


def copy_source(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(source, target)


def package_files(package: Path) -> set[Path]:
    """The files under ``package``, without caches."""
    found = set()
    for folder, folders, files in os.walk(package):
        folders[:] = [name for name in folders if name != "__pycache__"]
        found |= {(Path(folder) / name).relative_to(package) for name in files}
    return found


def test_the_compose_file_runs_three_roles_of_one_image_on_postgres():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "web", "worker", "scheduler"}
    roles = {name: services[name] for name in ("web", "worker", "scheduler")}
    assert {(s["build"], s["image"]) for s in roles.values()} == {(".", "yield-auditor:local")}
    assert {name: s["command"] for name, s in roles.items()} == {name: [name] for name in roles}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    final = dict(stages(ROOT / "Dockerfile")[-1])
    settings_dir = re.search(r"YIELD_AUDITOR_ENV_FILE=(\S+)/\.env", final["ENV"]).group(1)
    for service in roles.values():
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert f"settings:{settings_dir}" in service["volumes"]  # what /setup writes, shared
    unchecked = {name for name, s in roles.items() if s.get("healthcheck", {}).get("disable")}
    assert unchecked == {"worker", "scheduler"}  # the image's check is the web role's
    assert parse_seconds(roles["worker"]["stop_grace_period"]) > 60  # past a delivery's lease
    assert {"postgres", "settings"} <= set(compose["volumes"])


def parse_seconds(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([sm])", text).groups()
    return int(number) * (60 if unit == "m" else 1)


# --------------------------------------------------------------------------- the image, run

IMAGE = "yield-auditor:test"


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    """The Dockerfile's image, built here (CI starts the engine and makes the base image: .ci/run).
    Without an engine the test is skipped, except in CI, where it must run."""
    if shutil.which("docker") is None or docker("info").returncode != 0:
        reason = "no Docker engine runs here (.ci/run starts one: dockerd --bridge=none)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the image: {reason}", pytrace=False)
        pytest.skip(reason)
    base = stages(ROOT / "Dockerfile")[0][0][1].split()[0]
    if docker("image", "inspect", base).returncode != 0 and shutil.which("debootstrap"):
        subprocess.run(["bash", str(DOCKER / "base-image.sh"), base], check=True, timeout=1200)
    # Host networking only, the build's too: apt and pip reach the registries as this host does.
    built = docker("build", "--network", "host", "--tag", IMAGE, str(ROOT), timeout=1800)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return IMAGE


def run_container(image: str, *args: str, env: dict[str, str], name: str) -> list[str]:
    """``docker run`` on the host's network (no container gets an address of its own), with
    ``env`` passed by name so that no secret is on a command line."""
    names = [part for key in env for part in ("--env", key)]
    return ["docker", "run", "--rm", "--name", name, "--network", "host", *names, image, *args]


@pytest.fixture
def postgres_engine(postgres_url):
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def test_the_image_serves_stores_processes_and_runs_as_a_user(image, postgres_url, postgres_engine):
    """The web role answers /healthz and stores a signed delivery in PostgreSQL, the worker role
    processes it against the fake GitHub, and neither runs as root."""
    engine, port = postgres_engine, free_port()
    base, name = f"http://127.0.0.1:{port}", f"yield-auditor-test-{uuid.uuid4().hex[:12]}"
    key = generate_private_key()
    fake = FakeGitHub(app_id=99, private_key=key)
    agent = Person("Claude", "noreply@anthropic.com", "claude[bot]", 209825114, "Bot")
    with fake:
        settings = {
            "DATABASE_URL": postgres_url, "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_APP_ID": "99",
            "GITHUB_APP_PRIVATE_KEY": key, "GITHUB_API_URL": fake.url, "PORT": str(port),
            "WEB_CONCURRENCY": "1", "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        }  # fmt: skip
        env = {**os.environ, **settings}
        fake.add_installation(p.INSTALLATION, "octo-org")
        fake.add_repo(p.REPO, p.INSTALLATION)
        message = p.agent_message("Add the parser", "T-1", "economy", "claude-haiku-4-5")
        sha = fake.add_commit(p.REPO, message, author=agent, files=[added_file("a.py", "x = 1")])
        fake.add_pull(p.REPO, 7, head_ref="feature", commits=[sha])
        command = run_container(image, "web", env=settings, name=name)
        web = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = Output(web)
        try:
            wait_until_up(base, web, timeout=120)
            assert current_revision(engine) == head_revision()  # the web role migrated
            assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
            payload = p.pull_request("opened", 7, head_ref="feature", head_sha=sha, at=T0)
            assert deliver(base, "pull_request", payload, "image-1").status_code == 202
            assert inbox.get(engine, "image-1").status == "received"
        finally:
            code = stop(web)
        assert code == 0, output.text
        worker = subprocess.run(
            run_container(image, "worker", "--once", env=settings, name=f"{name}-worker"),
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert inbox.get(engine, "image-1").status == "done", worker.stderr
    user = docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user == "10001:10001"
    assert SECRET not in output.text + worker.stdout + worker.stderr
