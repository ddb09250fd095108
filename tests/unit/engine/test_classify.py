"""Task class inference and the complexity bucket (docs/metrics.md, "Task class" and
"Complexity"): the order of the evidence, each source's rules, and properties over open text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.classify import complexity, infer_task_class
from bot.engine.records import FileChange

# docs/metrics.md's mapping, written out here so that a change to the code's table shows.
TYPES = {
    "fix": "bugfix", "bugfix": "bugfix", "hotfix": "bugfix", "feat": "feature",
    "feature": "feature", "refactor": "refactor", "perf": "refactor", "test": "test",
    "tests": "test", "docs": "docs", "doc": "docs", "chore": "chore", "style": "chore",
    "deps": "chore", "build": "config", "ci": "config", "config": "config",
}  # fmt: skip
LABELS = {
    "bug": "bugfix", "bugfix": "bugfix", "fix": "bugfix", "enhancement": "feature",
    "feature": "feature", "documentation": "docs", "docs": "docs", "refactor": "refactor",
    "refactoring": "refactor", "test": "test", "tests": "test", "testing": "test",
    "chore": "chore", "dependencies": "chore", "ci": "config", "config": "config",
}  # fmt: skip
CLASSES = {"bugfix", "feature", "refactor", "test", "docs", "chore", "config", "other"}

text = st.text(max_size=60)
known_type = st.sampled_from(sorted(TYPES))
# Words that are no conventional type, no label and start no title word: they decide nothing.
neutral_word = st.from_regex(r"[k-m][a-z]{0,8}", fullmatch=True)
neutral_title = st.lists(neutral_word, max_size=5).map(" ".join)


# --- the order of the evidence ------------------------------------------------------------


@pytest.mark.parametrize(
    ("subjects", "labels", "title", "paths", "expected"),
    [
        (["fix: a crash"], ["enhancement"], "feat: y", ["docs/a.md"], "bugfix"),  # subject first
        (["wip"], ["bug"], "feat: y", ["docs/a.md"], "feature"),  # then the PR title's type
        (["wip"], ["bug"], "Add docs", ["docs/a.md"], "bugfix"),  # then labels
        (["wip"], ["question"], "Add docs", ["docs/a.md"], "docs"),  # then the footprint
        (["wip"], [], "Add docs", ["docs/a.md", "app/x.py"], "feature"),  # then title words
        (["wip"], [], "Update things", ["app/x.py"], "other"),  # else other
        ([], [], "", [], "other"),
    ],
)
def test_each_source_is_read_only_when_the_ones_before_say_nothing(
    subjects, labels, title, paths, expected
):
    assert infer_task_class(subjects, labels, title, paths) == expected


def test_only_the_first_subject_is_read():
    assert infer_task_class(["wip", "fix: later"]) == "other"
    assert infer_task_class(["docs: first", "fix: later"]) == "docs"


# --- conventional-commit types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("fix(parser): x", "bugfix"),
        ("feat!: breaking", "feature"),
        ("Refactor(api)!: x", "refactor"),  # the type is read in any case
        ("PERF: x", "refactor"),
        ("fix(" + "s" * 80 + "): x", "bugfix"),  # a scope of 80 characters
        ("fix(" + "s" * 81 + "): x", "other"),  # a longer one is not a scope
        ("fix(a\nb): x", "other"),  # nor one across lines
        ("fix:x", "other"),  # the colon needs its space
        (" fix: x", "other"),  # from the first character
        ("wip: x", "other"),  # an unknown type says nothing
    ],
)
def test_conventional_subject(subject, expected):
    assert infer_task_class([subject], paths=["app/x.py"]) == expected


def test_an_unknown_type_falls_through_to_the_labels():
    assert infer_task_class(["wip: x"], ["documentation"]) == "docs"


# --- labels -------------------------------------------------------------------------------


def test_the_first_known_label_wins_in_any_case():
    assert infer_task_class(["wip"], ["needs-triage", "BUG", "enhancement"]) == "bugfix"
    assert infer_task_class(["wip"], ["Enhancement", "bug"]) == "feature"


# --- the file footprint -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["docs/guide/setup.html", "README.md", "notes.rst", "a/b.adoc"], "docs"),
        (
            [
                "tests/x.py",
                "pkg/tests/y.py",
                "web/__tests__/z.js",
                "test_a.py",
                "b_test.go",
                "c.test.ts",
                "d.spec.js",
                "test/e.rb",
            ],
            "test",
        ),  # fmt: skip
        (
            [
                ".github/workflows/ci.yml",
                "pyproject.toml",
                "Dockerfile",
                "src/Makefile",
                ".gitignore",
                "a.json",
                "b.ini",
                "c.cfg",
                "d.conf",
                ".env",
            ],
            "config",
        ),  # fmt: skip
        (["docs/a.md", "tests/b.py"], "other"),  # mixed: no class
        (["app/contest.py"], "other"),
        (["app/docs.py"], "other"),
    ],
)
def test_footprint(paths, expected):
    assert infer_task_class(["wip"], paths=paths) == expected


def test_a_file_both_doc_and_test_reads_as_docs():
    assert infer_task_class(["wip"], paths=["tests/README.md"]) == "docs"


def test_paths_may_be_any_iterable_read_once():
    assert infer_task_class(["wip"], paths=iter(["docs/a.md", "docs/b.md"])) == "docs"


# --- title words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Fixes the login", "bugfix"),  # a word starting with the prefix
        ("Bugs in export", "bugfix"),
        ("Implementing export", "feature"),
        ("Refactoring", "refactor"),
        ("Testing harness", "test"),
        ("Documented limits", "docs"),
        ("Add a fix", "bugfix"),  # fix is tried before add, in any of the first 3 words
        ("Make it faster fix", "other"),  # the fourth word is not read
        ("Prefix handling", "other"),  # the word must start with the prefix
    ],
)
def test_title_words(title, expected):
    assert infer_task_class(["wip"], title=title) == expected


# --- properties over open input -----------------------------------------------------------


@given(
    known_type,
    st.sampled_from(["", "(scope)", "(a b/c)"]),
    st.sampled_from(["", "!"]),
    text,
    st.lists(text, max_size=3),
    st.lists(text, max_size=3),
    text,
    st.lists(text, max_size=3),
)
def test_a_known_type_in_the_first_subject_decides_whatever_else_is_said(
    kind, scope, bang, description, more, labels, title, paths
):
    subject = f"{kind.swapcase()}{scope}{bang}: {description}"
    assert infer_task_class([subject, *more], labels, title, paths) == TYPES[kind]


@given(neutral_title, st.lists(text, max_size=3), st.sampled_from(sorted(LABELS)), text)
def test_a_known_label_decides_when_no_type_does(title, before, label, after):
    unknown = [x for x in before if x.lower() not in LABELS]
    labels = [*unknown, label.upper(), after]
    assert infer_task_class([title], labels, title, ["app/x.py"]) == LABELS[label]


@given(
    neutral_title,
    st.sampled_from(
        [("docs/", ".py", "docs"), ("tests/", ".py", "test"), ("src/", ".yml", "config")]
    ),
    st.lists(st.from_regex(r"[a-k]{1,8}(/[a-k]{1,8}){0,2}", fullmatch=True), min_size=1),
    st.randoms(use_true_random=False),
)
def test_a_uniform_footprint_decides_in_any_order(title, kind, names, random):
    prefix, suffix, expected = kind
    paths = [f"{prefix}{name}{suffix}" for name in names]
    random.shuffle(paths)
    assert infer_task_class([title], [], title, paths) == expected


@given(neutral_title, st.lists(neutral_word, max_size=3), st.lists(neutral_word, max_size=3))
def test_nothing_known_is_other(title, labels, paths):
    assert infer_task_class([title], labels, title, [f"app/{p}.py" for p in paths]) == "other"


@given(st.lists(text, max_size=3), st.lists(text, max_size=3), text, st.lists(text, max_size=3))
def test_any_text_gives_a_class_the_later_subjects_do_not_change(subjects, labels, title, paths):
    inferred = infer_task_class(subjects, labels, title, paths)
    assert inferred in CLASSES
    assert infer_task_class(subjects[:1], labels, title, paths) == inferred


# --- complexity ---------------------------------------------------------------------------


def files(*spec: tuple[str, int]) -> list[FileChange]:
    return [FileChange(path, lines, 0) for path, lines in spec]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (files(("app/a.py", 50), ("app/b.py", 50)), "small"),
        (files(("a.py", 10), ("b.py", 10), ("c.py", 10)), "small"),  # the root is one component
        (files(("app/a.py", 101)), "medium"),  # over 100 lines
        (files(*((f"app/{i}.py", 1) for i in range(4))), "medium"),  # over 3 files
        (files(("app/a.py", 1), ("lib/b.py", 1)), "medium"),  # two components
        (files(*((f"app/{i}.py", 1) for i in range(11))), "large"),  # over 10 files
        (files(("app/a.py", 1), ("lib/b.py", 1), ("c.py", 1)), "large"),  # three components
        (files(("app/a.py", 501)), "large"),  # over 500 lines
        (files(("app/a.py", 60), ("app/a.py", 60)), "medium"),  # one file's lines add up
        ([], "small"),
    ],
)
def test_complexity(changes, expected):
    assert complexity(changes) == expected


def test_complexity_counts_deleted_lines():
    assert complexity([FileChange("app/a.py", 60, 50)]) == "medium"
