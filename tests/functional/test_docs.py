"""The documentation holds: every relative link in README.md, CHANGELOG.md and docs/*.md reaches
a file of the repository and every `#anchor` a heading of its target (GitHub's anchors); the
README links every page of docs/; docs/configuration.md lists every server setting, the README
does not contradict it, and no page or .env.example names a variable the code does not read."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from tests.paths import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


def unfenced(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fence = [], None
    for line in text.splitlines():
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if marker and (fence is None or marker.group(1)[0] == fence[0]):
            fence = None if fence else marker.group(1)
            continue
        if fence is None:
            lines.append(line)
    return lines


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out."""
    return [re.sub(r"`+[^`]*`+", "code", line) for line in unfenced(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger): the rendered text in lower case, without
    punctuation or symbols, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = (c for c in text if c in " -" or unicodedata.category(c)[0] in "LMN" or c == "_")
    return "".join(kept).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading's anchor in a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    fence = None
    for line in page.read_text(encoding="utf-8").splitlines():
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if marker and (fence is None or marker.group(1)[0] == fence[0]):
            fence = None if fence else marker.group(1)
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fence is None and heading:
            base = slug(heading.group(1))
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return frozenset(found)


def links(page: Path) -> list[str]:
    return [
        m.group(1) for line in prose(page.read_text(encoding="utf-8")) for m in LINK.finditer(line)
    ]


def problem(page: Path, target: str, root: Path = ROOT) -> str | None:
    """What is wrong with a relative link, or None."""
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.exists():
        return f"{target}: no such file"
    if root not in (destination, *destination.parents):
        return f"{target}: outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{target}: no heading #{anchor} in {destination.name}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    relative = [t for t in links(page) if not ABSOLUTE.match(t)]
    assert [p for t in relative if (p := problem(page, t))] == []


def test_readme_links_every_page_of_docs() -> None:
    readme = ROOT / "README.md"
    linked = {(readme.parent / t.partition("#")[0]).resolve() for t in links(readme)}
    assert sorted(p.name for p in PAGES if p != readme and p not in linked) == []


# --------------------------------------------------------------------------- the checker


def test_slugs_follow_github() -> None:
    assert slug("Embedded: `yield-auditor serve` (what a team runs first)") == (
        "embedded-yield-auditor-serve-what-a-team-runs-first"
    )
    assert (
        slug("1. A `prepare-commit-msg` hook, configured")
        == "1-a-prepare-commit-msg-hook-configured"
    )
    assert slug("Cookies, CSRF, headers") == "cookies-csrf-headers"
    assert slug("The [API](api.md) and tier x task_class") == "the-api-and-tier-x-task_class"
    assert slug("Coût & délai") == "coût--délai"


def test_checker_catches_missing_files_and_anchors(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    page = root / "page.md"
    page.write_text(
        "# Title\n\n## Usage\n\n## Usage\n\n```console\n# not a heading\n[x](gone.md)\n```\n"
        "[a](#usage-1) [b](#usage-2) [c](other.md#title) [d](missing.md) "
        "[e](https://example.com/x.md) `[f](nope.md)` [g](#not-a-heading) [h](../out.md)\n",
        encoding="utf-8",
    )
    (root / "other.md").write_text("# Title\n", encoding="utf-8")
    assert anchors(page) == {"title", "usage", "usage-1"}
    assert links(page) == [
        "#usage-1",
        "#usage-2",
        "other.md#title",
        "missing.md",
        "https://example.com/x.md",
        "#not-a-heading",
        "../out.md",
    ]
    (tmp_path / "out.md").write_text("# Out\n", encoding="utf-8")
    assert [problem(page, t, root) for t in links(page) if not ABSOLUTE.match(t)] == [
        None,
        "#usage-2: no heading #usage-2 in page.md",
        None,
        "missing.md: no such file",
        "#not-a-heading: no heading #not-a-heading in page.md",
        "../out.md: outside the repository",
    ]


# --------------------------------------------------------------------------- settings

OUR_NAME = re.compile(r"\bYIELD_AUDITOR_[A-Z0-9_]*[A-Z0-9]\b")
CONFIGURATION = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
SOURCES = [
    *(ROOT / "bot").rglob("*.py"),
    *(ROOT / "webhooks").rglob("*.py"),
    *(p for p in (ROOT / "docker").glob("*") if p.is_file()),
    *(p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py"),
]
# What compose and the web role read besides the settings, and the url_env of the digest example.
CONTAINER_FILES = [ROOT / "docker-compose.yml", ROOT / "docker" / "gunicorn.conf.py"]
CHANNEL_URL_EXAMPLES = {"SLACK_DIGEST_URL"}


def setting_names() -> dict[str, list[str]]:
    """Each Settings field's variables (validation aliases), by field name."""
    from bot.config import Settings

    return {name: list(f.validation_alias.choices) for name, f in Settings.model_fields.items()}


def names_in_code() -> set[str]:
    """Every YIELD_AUDITOR_ variable the code names (the tests' included), and click's."""
    from bot.cli.docs import walk
    from bot.cli.main import main

    found = {n for path in SOURCES for n in OUR_NAME.findall(path.read_text(encoding="utf-8"))}
    for ctx, command in walk(main):
        for param in command.get_params(ctx):
            envvar = getattr(param, "envvar", None)
            found |= {envvar} if isinstance(envvar, str) else set(envvar or ())
    return found


def table_rows(page: Path) -> dict[str, dict[str, str]]:
    """The rows of the page's tables by the variables in their first cell, each row's cells
    keyed by its table's header in lower case (``row["default"]``)."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in unfenced(page.read_text(encoding="utf-8")):
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not header:
            header = [c.lower() for c in cells]
        elif not set(cells[0]) <= set("-: "):
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                rows[name] = dict(zip(header, cells, strict=False))
    return rows


def test_configuration_lists_every_setting() -> None:
    """docs/configuration.md is the complete reference of the server's settings."""
    from bot.config import CONFIG_FILE_ENV

    listed = table_rows(CONFIGURATION)
    wanted = {CONFIG_FILE_ENV, *(n for names in setting_names().values() for n in names)}
    aliases = {row.get("probot alias", "") for row in listed.values()}
    missing = {n for n in wanted if n not in listed and not any(f"`{n}`" in a for a in aliases)}
    assert sorted(missing) == []


def test_toml_keys_follow_the_documented_rule() -> None:
    """A setting's TOML key is its variable's name in lower case without YIELD_AUDITOR_."""
    for field, names in setting_names().items():
        assert field == names[0].lower().removeprefix("yield_auditor_"), names


def test_readme_and_configuration_agree_on_defaults() -> None:
    readme, full = table_rows(ROOT / "README.md"), table_rows(CONFIGURATION)
    shared = [n for n in readme if n in full and "default" in readme[n] and "default" in full[n]]
    assert shared, "the README's configuration table has no default column any more"
    assert {n: readme[n]["default"] for n in shared} == {n: full[n]["default"] for n in shared}


def test_pages_name_only_variables_the_code_reads() -> None:
    known = names_in_code()
    pages = [*PAGES, ENV_EXAMPLE]
    unknown = {
        (page.name, name)
        for page in pages
        for name in OUR_NAME.findall(page.read_text(encoding="utf-8"))
        if name not in known
    }
    assert sorted(unknown) == []


def test_env_example_is_valid_and_names_only_real_settings(monkeypatch) -> None:
    from bot.config import CONFIG_FILE_ENV, ENV_FILE_ENV, Settings

    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.M))
    settings = {n for names in setting_names().values() for n in names}
    container = {n for p in CONTAINER_FILES for n in re.findall(r"\b[A-Z][A-Z_]+\b", p.read_text())}
    assert named - settings - {CONFIG_FILE_ENV} - container - CHANNEL_URL_EXAMPLES == set()
    assert {"POSTGRES_PASSWORD", "YIELD_AUDITOR_PUBLIC_URL"} <= named
    for name in (*settings, CONFIG_FILE_ENV, ENV_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ENV_EXAMPLE)  # what compose hands the services, as settings
    assert settings.github_app_id is None and settings.public_url is None
