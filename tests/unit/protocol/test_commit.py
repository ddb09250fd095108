"""A commit's subject and fixup flag are git's: checked against a line-by-line port of
pretty.c ``format_subject`` on any text, and against the real ``git log %s`` and
``git rebase --autosquash`` (isolated configuration, see conftest.py).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.protocol.commit import FIXUP_PREFIXES, is_fixup, subject_of

GIT_SPACE = " \t\n\r"  # git's isspace() (ctype.c sane_ctype)


def git_format_subject(message: str) -> str:
    """pretty.c, literally: ``skip_blank_lines``, then ``format_subject(sb, msg, " ")``, where a
    line is blank when nothing but isspace() remains after trimming its end."""
    lines = message.split("\n")
    i = 0
    while i < len(lines) and not lines[i].rstrip(GIT_SPACE):
        i += 1
    kept = []
    for line in lines[i:]:
        if not line.rstrip(GIT_SPACE):
            break
        kept.append(line.rstrip(GIT_SPACE))
    return " ".join(kept)


def test_subject_examples() -> None:
    assert subject_of("one\ntwo\n\nbody") == "one two"
    assert subject_of("\n\n  title  \n\nbody") == "  title"
    assert subject_of("title\r\nmore\r\n\r\nbody\r\n") == "title more"
    assert subject_of("title\v\n") == "title\v"  # \v is no space to git
    assert subject_of(" \t\r\n\n") == ""
    assert subject_of("") == ""


def test_fixup_examples() -> None:
    assert is_fixup("fixup! feat: x") and is_fixup("squash! x") and is_fixup("amend! x")
    assert is_fixup("fixup! squash! x")
    assert not is_fixup("fix: x") and not is_fixup("fixup!x") and not is_fixup("Fixup! x")
    assert not is_fixup(" fixup! x")
    assert is_fixup(subject_of("\n\nfixup! x\r\n")) and is_fixup(subject_of("fixup!\nx"))


MESSAGE_PARTS = st.sampled_from(
    ["\n", "\r\n", " ", "\t", "\r", "\v", "\f", "\x85", "\u2028", "\xa0", "a", "fixup! ", "é"]
)
messages = st.lists(MESSAGE_PARTS, max_size=20).map("".join) | st.text(max_size=40)


@settings(max_examples=2000, deadline=None)
@given(messages)
def test_subject_is_gits_format_subject(message: str) -> None:
    subject = subject_of(message)
    assert subject == git_format_subject(message)
    assert "\n" not in subject and subject == subject_of(subject)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FIXUP_PREFIXES), min_size=1, max_size=4), st.text(max_size=20))
def test_any_run_of_prefixes_is_a_fixup(prefixes: list[str], rest: str) -> None:
    assert is_fixup("".join(prefixes) + rest)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_only_the_exact_prefixes_are_fixups(subject: str) -> None:
    assert is_fixup(subject) == any(subject[: len(p)] == p for p in FIXUP_PREFIXES)


def random_message(rnd: random.Random) -> str:
    parts = ["\n", "\r\n", "\r", " ", "\t", "\v", "\f", "x", "fixup! ", "é", "\u2028", "\n\n"]
    return "".join(rnd.choice(parts) for _ in range(rnd.randint(0, 12)))


def fast_import_stream(messages: list[str]) -> bytes:
    """One commit per message on ``main``, each changing a file so none is empty."""
    out = []
    for k, message in enumerate(messages, 1):
        data = message.encode()
        out.append(b"commit refs/heads/main\nmark :%d\n" % k)
        out.append(
            b"committer C <c@x> %d +0000\ndata %d\n%s\n" % (1_700_000_000 + k, len(data), data)
        )
        if k > 1:
            out.append(b"from :%d\n" % (k - 1))
        out.append(b"M 644 inline f\ndata %d\n%d\n\n" % (len(str(k)) + 1, k))
    return b"".join(out)


@pytest.mark.git
def test_subject_agrees_with_git_log(run_git, tmp_path) -> None:
    rnd = random.Random(17)
    corpus = [random_message(rnd) for _ in range(400)] + ["one\ntwo\n\nbody", "\n\n a \r\n"]
    repo = tmp_path / "repo"
    run_git("init", "-q", "-b", "main", str(repo))
    run_git("-C", str(repo), "fast-import", "--quiet", input=fast_import_stream(corpus))
    out = run_git("-C", str(repo), "log", "--reverse", "-z", "--format=%s")
    assert out.decode().removesuffix("\0").split("\0") == [subject_of(m) for m in corpus]


AUTOSQUASH = [
    "fixup! target",
    "squash! target",
    "amend! target\n\nthe new message",
    "fixup! fixup! target",
    "fixup!target",
    " fixup! target",
    "Fixup! target",
    "\n\nfixup! target",
    "fixup!\ntarget",
    "fixup! target\r\n",
]


@pytest.mark.git
def test_fixups_are_what_git_rebase_autosquash_moves(run_git, tmp_path) -> None:
    """Each candidate targets the first commit; ``rebase --autosquash`` turns exactly the
    fixups' ``pick`` into ``fixup``/``squash`` (the todo is saved, then the rebase abandoned)."""
    repo = tmp_path / "repo"
    run_git("init", "-q", "-b", "main", str(repo))
    messages = ["base", "target", *AUTOSQUASH]
    run_git("-C", str(repo), "fast-import", "--quiet", input=fast_import_stream(messages))
    run_git("-C", str(repo), "checkout", "-q", "main")
    todo = tmp_path / "todo"
    editor = f"sh -c 'cp \"$1\" {todo}; exit 1' -"
    with pytest.raises(Exception):  # noqa: B017 - the editor's failure abandons the rebase
        run_git("-C", str(repo), "rebase", "-i", "--autosquash", "HEAD~11",
                env={"GIT_SEQUENCE_EDITOR": editor})  # fmt: skip
    shas = run_git("-C", str(repo), "log", "--reverse", "--format=%H", "HEAD~11..").split()
    command = {}
    for line in todo.read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            abbrev = words[2] if words[1] == "-C" else words[1]  # "fixup -C <sha>": amend!
            command[next(s.decode() for s in shas if s.decode().startswith(abbrev))] = words[0]
    moved = {m: command[s.decode()] != "pick" for m, s in zip(AUTOSQUASH, shas[1:], strict=True)}
    assert moved == {m: is_fixup(subject_of(m)) for m in AUTOSQUASH}
