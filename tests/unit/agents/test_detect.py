"""Agent signature detection: real-shaped commits for every agent and form, the spoofing
policy, precedence, and never-raising on arbitrary input.

Names, e-mails, ids and messages follow /work/shared/reference/agent-attribution.md.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.agents.detect import MAX_MATCHED, ROLES, Detection, detect
from bot.agents.rules import DEFAULT_RULES, MAX_AGENT_NAME
from bot.agents.table import BUILTIN_RULES
from bot.protocol.commit import CommitInfo, Identity
from tests.unit.agents.commits import commit, evidence

GITHUB = Identity("GitHub", "noreply@github.com")


def rules_of(d: Detection) -> set[str]:
    return {e.rule for e in d.evidence}


# --- every agent and form, from real-shaped commits ----------------------------------------

CLAUDE_BOT = Identity("claude[bot]", "209825114+claude[bot]@users.noreply.github.com")
COPILOT_AGENT = Identity("copilot-swe-agent[bot]", "198982749+Copilot@users.noreply.github.com")
DEVIN = Identity("Devin AI", "158243242+devin-ai-integration[bot]@users.noreply.github.com")
JULES = Identity(
    "google-labs-jules[bot]", "161369871+google-labs-jules[bot]@users.noreply.github.com"
)
AMAZON_Q = Identity(
    "amazon-q-developer[bot]", "208079219+amazon-q-developer[bot]@users.noreply.github.com"
)
CURSOR_AGENT = Identity("Cursor Agent", "cursoragent@cursor.com")

# (case id, commit, agent, role, model, [(rule, field)] that must be in the evidence)
CASES = [
    # Claude Code (reference §1)
    (
        "claude-legacy-footer",
        commit(
            "feat: add LINE webhook handler\n\nVerifies the signature before parsing.\n\n"
            "🤖 Generated with [Claude Code](https://claude.ai/code)\n\n"
            "Co-Authored-By: Claude <noreply@anthropic.com>\n"
        ),
        "claude-code",
        "authored",
        None,
        [
            ("claude-code.coauthor", "trailer:Co-Authored-By"),
            ("claude-code.generated-line", "body"),
        ],
    ),
    (
        "claude-model-in-trailer",
        commit(
            "fix: guard against empty config\n\n"
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
            "Co-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>\n"
        ),
        "claude-code",
        "authored",
        "Claude Opus 4.5",
        [("claude-code.coauthor", "trailer:Co-Authored-By")],
    ),
    (
        "claude-1m-context",
        commit(
            "refactor: split the scheduler\n\n"
            "Co-Authored-By: Claude Opus 4.6 (1M context) <noreply@anthropic.com>\n"
        ),
        "claude-code",
        "authored",
        "Claude Opus 4.6 (1M context)",
        [("claude-code.coauthor", "trailer:Co-Authored-By")],
    ),
    (
        "claude-2026-default-trailer-only",
        commit(
            "docs: explain retries\n\nCo-Authored-By: Claude Sonnet 4.6 <noreply@anthropic.com>\n"
        ),
        "claude-code",
        "authored",
        "Claude Sonnet 4.6",
        [("claude-code.coauthor", "trailer:Co-Authored-By")],
    ),
    (
        "claude-cloud-session",
        commit(
            "feat: add export button\n\n"
            "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>\n"
            "Claude-Session: https://claude.ai/code/session_011CUzYXa3mB7sYdJpMv5W2k\n"
        ),
        "claude-code",
        "authored",
        "Claude Sonnet 4.5",
        [
            ("claude-code.session", "trailer:Claude-Session"),
            ("claude-code.coauthor", "trailer:Co-Authored-By"),
        ],
    ),
    (
        "claude-generated-line-only",
        commit(
            "Add rate limiter (#88)\n\nSummary of changes.\n\n"
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)\n"
        ),
        "claude-code",
        "authored",
        None,
        [("claude-code.generated-line", "body")],
    ),
    (
        "claude-action-bot",
        commit(
            "fix: handle missing token\n\n"
            "Co-authored-by: octocat <octocat@users.noreply.github.com>\n",
            author=CLAUDE_BOT,
            branch="claude/issue-42-20250612-1403",
        ),
        "claude-code",
        "authored",
        None,
        [
            ("claude-code.bot-email", "author.email"),
            ("claude-code.bot-name", "author.name"),
            ("claude-code.branch", "branch"),
        ],
    ),
    (
        "claude-action-bot-api-id",
        commit(
            "fix: typo\n",
            author=Identity(
                "claude[bot]",
                "209825114+claude[bot]@users.noreply.github.com",
                "claude[bot]",
                209825114,
                "Bot",
            ),
        ),
        "claude-code",
        "authored",
        None,
        [("claude-code.bot-id", "author.github_id")],
    ),
    # Aider (§2)
    (
        "aider-author-and-committer",
        commit(
            "fix: Create parent directories for history files and improve error handling\n",
            author=Identity("Paul Gauthier (aider)", "paul@aider.chat"),
        ),
        "aider",
        "authored",
        None,
        [("aider.author-name", "author.name"), ("aider.committer-name", "committer.name")],
    ),
    (
        "aider-coauthor-model",
        commit(
            "chore: Update base image to python:3.10-slim-bookworm\n\n"
            "Co-authored-by: aider (gemini/gemini-2.5-pro) <aider@aider.chat>\n",
            author=Identity("Paul Gauthier", "paul@aider.chat"),
        ),
        "aider",
        "authored",
        "gemini/gemini-2.5-pro",
        [("aider.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "aider-coauthor-old-dev-email",
        commit(
            "feat: add --watch-files\n\n"
            "Co-authored-by: aider (vertex_ai/gemini-2.5-pro-exp-03-25) <noreply@aider.dev>\n"
        ),
        "aider",
        "authored",
        "vertex_ai/gemini-2.5-pro-exp-03-25",
        [("aider.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "aider-coauthor-old-chat-email",
        commit("test: cover repo map\n\nCo-authored-by: aider (gpt-4.1) <noreply@aider.chat>\n"),
        "aider",
        "authored",
        "gpt-4.1",
        [("aider.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "aider-subject-prefix",
        commit(
            "aider: chore: Remove unnecessary comment in mdstream.py\n",
            author=Identity("Peter Schilling (aider)", "peter@example.com"),
        ),
        "aider",
        "authored",
        None,
        [("aider.subject-prefix", "subject"), ("aider.author-name", "author.name")],
    ),
    (
        "aider-2023-chat-transcript",
        commit(
            "aider: Added a --no-pretty flag.\n\n# Aider chat conversation:\n\n"
            "USER: add a --no-pretty flag\n\nASSISTANT: Here are the changes:\n",
            author=Identity("Paul Gauthier", "paul@paulg.com"),
        ),
        "aider",
        "authored",
        None,
        [("aider.chat-transcript", "body"), ("aider.subject-prefix", "subject")],
    ),
    # GitHub Copilot (§3)
    (
        "copilot-coding-agent",
        commit("Initial plan\n", author=COPILOT_AGENT, branch="copilot/fix-1234"),
        "copilot",
        "authored",
        None,
        [
            ("copilot.email", "author.email"),
            ("copilot.name", "author.name"),
            ("copilot.branch", "branch"),
        ],
    ),
    (
        "copilot-squash-merged",
        commit(
            "Add retry to the fetcher (#7731)\n\n* Initial plan\n\n* Add retry with backoff\n\n"
            "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>\n"
            "Co-authored-by: NikolajBjorner <3085284+NikolajBjorner@users.noreply.github.com>\n",
            author=Identity("Copilot", "198982749+Copilot@users.noreply.github.com"),
            committer=GITHUB,
        ),
        "copilot",
        "authored",
        None,
        [
            ("copilot.email", "author.email"),
            ("copilot.agent-coauthor", "trailer:Co-authored-by"),
        ],
    ),
    (
        "copilot-pr-author-from-api",
        commit("Fix flaky test\n", author=Identity("", "", "Copilot", 198982749, "Bot")),
        "copilot",
        "authored",
        None,
        [("copilot.agent-id", "author.github_id"), ("copilot.login", "author.login")],
    ),
    (
        "copilot-cli",
        commit(
            "feat: add --json output\n\n"
            "Co-authored-by: Copilot <223556219+Copilot@users.noreply.github.com>\n"
        ),
        "copilot",
        "authored",
        None,
        [("copilot.cli-coauthor", "trailer:Co-authored-by")],
    ),
    (
        "copilot-autofix",
        commit(
            "Potential fix for code scanning alert no. 12: Incomplete URL sanitization\n\n"
            "Co-authored-by: Copilot Autofix powered by AI "
            "<175728472+Copilot@users.noreply.github.com>\n"
        ),
        "copilot",
        "authored",
        None,
        [("copilot.autofix-coauthor", "trailer:Co-authored-by")],
    ),
    (
        "copilot-vscode",
        commit("Update README\n\nCo-authored-by: Copilot <copilot@github.com>\n"),
        "copilot",
        "authored",
        None,
        [("copilot.vscode-coauthor", "trailer:Co-authored-by")],
    ),
    # OpenAI Codex (§4.1)
    (
        "codex-cli",
        commit("fix: close file handles\n\nCo-authored-by: Codex <noreply@openai.com>\n"),
        "codex",
        "authored",
        None,
        [("codex.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "codex-custom-label",
        commit("feat: batch writes\n\nCo-authored-by: Codex GPT-6 Astra <noreply@openai.com>\n"),
        "codex",
        "authored",
        None,
        [("codex.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "codex-user-configured-email",
        commit("chore: lint\n\nCo-authored-by: Codex <codex@openai.com>\n"),
        "codex",
        "authored",
        None,
        [("codex.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "codex-cloud",
        commit(
            "Add retry logic to uploader (#311)\n\n## Summary\n- retry uploads\n\n------\n"
            "https://chatgpt.com/codex/tasks/task_e_0123456789abcdef0123456789abcdef\n",
            branch="codex/add-retry-logic",
        ),
        "codex",
        "authored",
        None,
        [("codex.task-link", "body"), ("codex.branch", "branch")],
    ),
    # Devin (§4.2)
    (
        "devin-bot",
        commit(
            "Fix login redirect loop\n\nCo-Authored-By: joe@cal.com <j.auyeung419@gmail.com>\n",
            author=DEVIN,
            branch="devin/1718000000-fix-login-redirect",
        ),
        "devin",
        "authored",
        None,
        [
            ("devin.bot-email", "author.email"),
            ("devin.name", "author.name"),
            ("devin.branch", "branch"),
        ],
    ),
    (
        "devin-cli",
        commit(
            "feat: add pagination\n\nGenerated with [Devin](https://cli.devin.ai/docs)\n\n"
            "Co-Authored-By: Devin <158243242+devin-ai-integration[bot]@users.noreply.github.com>\n"
        ),
        "devin",
        "authored",
        None,
        [
            ("devin.bot-coauthor", "trailer:Co-Authored-By"),
            ("devin.generated-line", "body"),
        ],
    ),
    (
        "devin-api-id",
        commit("Bump version\n", author=Identity("", "", "devin-ai-integration[bot]", 158243242)),
        "devin",
        "authored",
        None,
        [("devin.bot-id", "author.github_id")],
    ),
    # Cursor (§4.3)
    (
        "cursor-coauthor",
        commit("feat: dark mode\n\nCo-authored-by: Cursor <cursoragent@cursor.com>\n"),
        "cursor",
        "authored",
        None,
        [("cursor.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "cursor-made-with",
        commit("fix: off-by-one in pager\n\nMade-with: Cursor\n"),
        "cursor",
        "authored",
        None,
        [("cursor.made-with", "trailer:Made-with")],
    ),
    (
        "cursor-background-agent",
        commit("Add dark mode toggle\n", author=CURSOR_AGENT, branch="cursor/add-dark-mode-3f2a"),
        "cursor",
        "authored",
        None,
        [
            ("cursor.agent-email", "author.email"),
            ("cursor.agent-name", "author.name"),
            ("cursor.branch", "branch"),
        ],
    ),
    (
        "cursor-agent-noreply",
        commit(
            "Fix typo\n",
            author=Identity("Cursor Agent", "199161495+cursoragent@users.noreply.github.com"),
        ),
        "cursor",
        "authored",
        None,
        [("cursor.agent-email", "author.email")],
    ),
    # Google Jules (§4.4), Amazon Q (§4.5)
    (
        "jules-bot",
        commit("Add unit tests for parser\n", author=JULES),
        "jules",
        "authored",
        None,
        [("jules.bot-email", "author.email"), ("jules.bot-name", "author.name")],
    ),
    (
        "jules-coauthor",
        commit(
            "Refactor config loading\n\nCo-authored-by: google-labs-jules[bot] "
            "<161369871+google-labs-jules[bot]@users.noreply.github.com>\n"
        ),
        "jules",
        "authored",
        None,
        [("jules.bot-coauthor", "trailer:Co-authored-by")],
    ),
    (
        "amazon-q-bot",
        commit("Implement /q dev task\n", author=AMAZON_Q),
        "amazon-q",
        "authored",
        None,
        [("amazon-q.bot-email", "author.email")],
    ),
    (
        "amazon-q-api-id",
        commit(
            "Implement feature\n", author=Identity("", "", "amazon-q-developer[bot]", 208079219)
        ),
        "amazon-q",
        "authored",
        None,
        [("amazon-q.bot-id", "author.github_id")],
    ),
    # OpenHands (§4.6)
    (
        "openhands-coauthor",
        commit("Fix #17: handle None\n\nCo-authored-by: openhands <openhands@all-hands.dev>\n"),
        "openhands",
        "authored",
        None,
        [("openhands.coauthor", "trailer:Co-authored-by")],
    ),
    (
        "openhands-default-identity-new-domain",
        commit("Fix issue #3\n", author=Identity("openhands", "openhands@openhands.dev")),
        "openhands",
        "authored",
        None,
        [("openhands.email", "author.email"), ("openhands.name", "author.name")],
    ),
    (
        "openhands-resolver-account",
        commit(
            "Fix issue #9\n", author=Identity("openhands-agent", "x@example.com", "openhands-agent")
        ),
        "openhands",
        "authored",
        None,
        [("openhands.login", "author.login")],
    ),
    # Amp, Factory, OpenCode, Warp (§4.8)
    (
        "amp",
        commit(
            "feat: stream results\n\nAmp-Thread-ID: "
            "https://ampcode.com/threads/T-5d7a2f0e-1b2c-4d3e-9f8a-0123456789ab\n"
            "Co-authored-by: Amp <amp@ampcode.com>\n"
        ),
        "amp",
        "authored",
        None,
        [("amp.coauthor", "trailer:Co-authored-by"), ("amp.thread", "trailer:Amp-Thread-ID")],
    ),
    (
        "factory",
        commit(
            "fix: flaky retry test\n\nCo-authored-by: factory-droid[bot] "
            "<138933559+factory-droid[bot]@users.noreply.github.com>\n"
        ),
        "factory",
        "authored",
        None,
        [("factory.bot-coauthor", "trailer:Co-authored-by")],
    ),
    (
        "opencode",
        commit(
            "feat: add tui theme\n\n🤖 Generated with opencode\n\n"
            "Co-Authored-By: opencode <noreply@opencode.ai>\n"
        ),
        "opencode",
        "authored",
        None,
        [
            ("opencode.coauthor", "trailer:Co-Authored-By"),
            ("opencode.generated-line", "body"),
        ],
    ),
    (
        "warp",
        commit("chore: update deps\n\nCo-Authored-By: Warp <agent@warp.dev>\n"),
        "warp",
        "authored",
        None,
        [("warp.coauthor", "trailer:Co-Authored-By")],
    ),
    # Project policy trailers (§5) and our own protocol
    (
        "kernel-assisted-by",
        commit(
            "media: verisilicon: fix AV1 tile buffer size\n\n"
            "Assisted-by: Claude:claude-3-opus coccinelle sparse\n"
            "Signed-off-by: Jane Doe <jane@example.com>\n"
        ),
        "claude",
        "authored",
        "claude-3-opus",
        [("policy.assisted-by", "trailer:Assisted-by")],
    ),
    (
        "fedora-free-form",
        commit("Update spec file\n\nAssisted-by: generic LLM chatbot\n"),
        "generic-llm-chatbot",
        "authored",
        None,
        [("policy.assisted-by", "trailer:Assisted-by")],
    ),
    (
        "fedora-product-name",
        commit("Fix build on s390x\n\nAssisted-by: ChatGPTv5\n"),
        "chatgptv5",
        "authored",
        None,
        [("policy.assisted-by", "trailer:Assisted-by")],
    ),
    (
        "asf-generated-by",
        commit(
            "Add code editor service spec\n\nGenerated-by: Claude (Claude Sonnet 4.6)\n"
            "Co-authored-by: Benjamin Le <benjaminl@uci.edu>\n"
        ),
        "claude",
        "authored",
        "Claude Sonnet 4.6",
        [("policy.generated-by", "trailer:Generated-by")],
    ),
    (
        "openstack-generated-by",
        commit(
            "Add scheduler weigher for NUMA\n\nGenerated-By: claude-code claude-opus-4-6\n"
            "Change-Id: I0123456789abcdef0123456789abcdef01234567\n"
        ),
        "claude-code",
        "authored",
        "claude-opus-4-6",
        [("policy.generated-by", "trailer:Generated-By")],
    ),
    (
        "openstack-assisted-by-bracket",
        commit("Fix quota race\n\nAssisted-By: Cursor [gpt-5]\n"),
        "cursor",
        "authored",
        "gpt-5",
        [("policy.assisted-by", "trailer:Assisted-By")],
    ),
    (
        "model-only-generated-by",
        commit("feat(collector): add invariant registry\n\nGenerated-By: claude-opus-4-6\n"),
        "unknown",
        "authored",
        "claude-opus-4-6",
        [("policy.generated-by", "trailer:Generated-By")],
    ),
    # Claude Code GitHub Action with its documented default identity: anthropics/
    # claude-code-action docs/usage.md, inputs bot_id (default 41898282) and bot_name (default
    # claude[bot]); src/github/operations/git-config.ts writes <bot_id>+<bot_name>@users.noreply.
    (
        "claude-action-default-bot-id",
        commit(
            "fix: handle missing token\n",
            author=Identity(
                "claude[bot]",
                "41898282+claude[bot]@users.noreply.github.com",
                "github-actions[bot]",
                41898282,
                "Bot",
            ),
        ),
        "claude-code",
        "authored",
        None,
        [("claude-code.bot-email", "author.email"), ("claude-code.bot-name", "author.name")],
    ),
    # Claude Code's own identity as the author (settings docs: Claude <noreply@anthropic.com>)
    (
        "claude-as-author",
        commit("docs: sync\n", author=Identity("Claude", "noreply@anthropic.com")),
        "claude-code",
        "authored",
        None,
        [("claude-code.author-email", "author.email")],
    ),
    (
        "claude-bare-footer",
        commit("feat: add cache\n\n🤖 Generated with Claude Code\n"),
        "claude-code",
        "authored",
        None,
        [("claude-code.generated-line", "body")],
    ),
    # aider v0.5-v0.8 (spring 2023): base_coder.get_context_from_history() builds
    # "# Context:\n" + "USER: ...\n" / "ASSISTANT: ...\n", and commit() writes
    # commit_message + "\n\n" + context, before the "aider: " prefix and the chat heading.
    (
        "aider-2023-context",
        commit(
            "Added a --no-pretty flag\n\n# Context:\nUSER: add a --no-pretty flag\n"
            "ASSISTANT: Here are the changes to main.py\n",
            author=Identity("Paul Gauthier", "paul@paulg.com"),
        ),
        "aider",
        "authored",
        None,
        [("aider.context-transcript", "body")],
    ),
    # Qwen Code: Co-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>; its PR footer
    # "🤖 Generated with [Qwen Code](https://github.com/QwenLM/qwen-code)"
    (
        "qwen-code",
        commit(
            "feat: add recap route\n\n🤖 Generated with [Qwen Code](https://github.com/QwenLM/"
            "qwen-code)\n\nCo-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>\n"
        ),
        "qwen-code",
        "authored",
        None,
        [
            ("qwen-code.coauthor", "trailer:Co-authored-by"),
            ("qwen-code.generated-line", "body"),
        ],
    ),
    # Crush (charmbracelet/crush README, "attribution"): trailer_style assisted-by (default)
    # "Assisted-by: [Model Name] via Crush <crush@charm.land>", co-authored-by
    # "Co-Authored-By: Crush <crush@charm.land>", generated_with "💘 Generated with Crush"
    (
        "crush-default",
        commit(
            "feat(chart): materialize symlinks\n\n💘 Generated with Crush\n\n"
            "Assisted-by: Claude Sonnet 4.5 via Crush <crush@charm.land>\n"
        ),
        "crush",
        "authored",
        "Claude Sonnet 4.5",
        [("crush.assisted-by", "trailer:Assisted-by"), ("crush.generated-line", "body")],
    ),
    (
        "crush-co-authored-by",
        commit("fix: lint\n\nCo-Authored-By: Crush <crush@charm.land>\n"),
        "crush",
        "authored",
        None,
        [("crush.coauthor", "trailer:Co-Authored-By")],
    ),
    (
        "factory-droid-coauthor",
        commit("fix: pooling\n\nCo-authored-by: Droid <droid@factory.ai>\n"),
        "factory",
        "authored",
        None,
        [("factory.droid-coauthor", "trailer:Co-authored-by")],
    ),
    (
        "own-protocol",
        commit(
            "fix: retry on 502\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\n"
            "Agent-Usage: model=claude-sonnet-4-5; in=1200; out=340\n"
        ),
        "claude-code",
        "authored",
        None,
        [("protocol.agent", "trailer:Agent")],
    ),
]


@pytest.mark.parametrize(
    ("case", "c", "agent", "role", "model", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_real_signatures(case, c, agent, role, model, expected):
    d = detect(c)  # trailers parsed by bot.protocol.trailers, as in production
    assert (d.agent, d.role, d.model) == (agent, role, model)
    assert d.agents[0] == agent
    for rule, field in expected:
        assert evidence(d, rule).field == field
        assert evidence(d, rule).agent == agent
    assert not d.mismatches


# (commit, agent, rule, field): forms not covered by CASES
SECONDARY = [
        (commit("x\n", author=Identity("Devin AI", "devin@cognition.ai")), "devin", "devin.email",
         "author.email"),
        (commit("x\n\nCo-Authored-By: Devin AI <devin@cognition.ai>\n"), "devin",
         "devin.coauthor-email", "trailer:Co-Authored-By"),
        (commit("Fix auth (#9)\n\nLink to Devin run: https://app.devin.ai/sessions/"
                "0123456789abcdef0123456789abcdef\nRequested by: joe@cal.com\n"), "devin",
         "devin.session-link", "body"),
        (commit("Add toggle (#5)\n\n<a href=\"https://cursor.com/agents/bc-1a2b3c4d\">Open in "
                "Web</a>\n"), "cursor", "cursor.agent-link", "body"),
        (commit("Add toggle (#5)\n\nMade with [Cursor](https://cursor.com)\n"), "cursor",
         "cursor.made-with-line", "body"),
        (commit("Fix", author=Identity("sweep-ai[bot]", "", "sweep-ai[bot]")), "sweep",
         "sweep.login", "author.login"),
        (commit("Fix", author=Identity("", "", "codegen-sh[bot]")), "codegen", "codegen.login",
         "author.login"),
        (commit("Fix", branch="openhands/fix-issue-3"), "openhands", "openhands.branch",
         "branch"),
        (commit("Fix", author=Identity("factory-droid[bot]",
                                       "138933559+factory-droid[bot]@users.noreply.github.com")),
         "factory", "factory.bot-email", "author.email"),
        (commit("Fix", author=Identity("", "", "factory-droid[bot]", 138933559)), "factory",
         "factory.bot-id", "author.github_id"),
        (commit("Fix", author=Identity("", "", "google-labs-jules[bot]", 161369871)), "jules",
         "jules.bot-id", "author.github_id"),
        (commit("x\n\nCo-authored-by: amazon-q-developer[bot] "
                "<208079219+amazon-q-developer[bot]@users.noreply.github.com>\n"), "amazon-q",
         "amazon-q.bot-coauthor", "trailer:Co-authored-by"),
        (commit("Fix", branch="refs/heads/copilot/fix-88"), "copilot", "copilot.branch",
         "branch"),
        (commit("Fix", author=Identity("devin-ai-integration[bot]", "")), "devin",
         "devin.bot-name", "author.name"),
        (commit("x\n\nCo-authored-by: claude[bot] "
                "<209825114+claude[bot]@users.noreply.github.com>\n"), "claude-code",
         "claude-code.bot-coauthor", "trailer:Co-authored-by"),
        (commit("Fix", author=Identity("Amp", "amp@ampcode.com")), "amp", "amp.email",
         "author.email"),
        (commit("Fix", author=Identity("amazon-q-developer[bot]", "")), "amazon-q",
         "amazon-q.bot-name", "author.name"),
        (commit("Fix", author=Identity("factory-droid[bot]", "")), "factory",
         "factory.bot-name", "author.name"),
]  # fmt: skip


# GitHub App bots: (agent, rule prefix, login, id), each with the five forms of ``_bot``
BOTS = [
    ("claude-code", "claude-code", "claude[bot]", 209825114),
    ("claude-code", "claude-code.anthropic-claude", "anthropic-claude[bot]", 215619710),
    ("claude-code", "claude-code.action", "claude-code-action[bot]", 208546643),
    ("devin", "devin", "devin-ai-integration[bot]", 158243242),
    ("jules", "jules", "google-labs-jules[bot]", 161369871),
    ("amazon-q", "amazon-q", "amazon-q-developer[bot]", 208079219),
    ("factory", "factory", "factory-droid[bot]", 138933559),
]
for agent, prefix, login, bot_id in BOTS:
    noreply = f"{bot_id}+{login}@users.noreply.github.com"
    SECONDARY += [
        (commit("Fix\n", author=Identity("", "", None, bot_id)), agent, f"{prefix}.bot-id",
         "author.github_id"),
        (commit("Fix\n", author=Identity("", "", login)), agent, f"{prefix}.bot-login",
         "author.login"),
        (commit("Fix\n", author=Identity("Some Name", noreply)), agent, f"{prefix}.bot-email",
         "author.email"),
        (commit("Fix\n", author=Identity(login, "")), agent, f"{prefix}.bot-name", "author.name"),
        (commit(f"Fix\n\nCo-authored-by: {login} <{noreply}>\n"), agent, f"{prefix}.bot-coauthor",
         "trailer:Co-authored-by"),
    ]  # fmt: skip
SECONDARY += [
    (commit("Fix (#3)\n\nMoves the retry.\n\nhttps://claude.ai/code/session_01AbCdEf\n"),
     "claude-code", "claude-code.session-link", "body"),
    (commit("Fix\n", author=Identity("", "", "app/copilot-swe-agent")), "copilot", "copilot.login",
     "author.login"),
    (commit("Fix\n", author=Identity("", "", None, 199161495)), "cursor", "cursor.agent-id",
     "author.github_id"),
    (commit("Fix\n", author=Identity("", "", "cursoragent")), "cursor", "cursor.agent-login",
     "author.login"),
    (commit("Fix (#4)\n\nCo-authored-by: Cursor Agent "
            "<199161495+cursoragent@users.noreply.github.com>\n"), "cursor", "cursor.coauthor",
     "trailer:Co-authored-by"),
    (commit("Fix\n", author=Identity("Sweep", "12345+sweep-ai[bot]@users.noreply.github.com")),
     "sweep", "sweep.email", "author.email"),
    (commit("Fix\n", author=Identity("codegen", "131+codegen-sh[bot]@users.noreply.github.com")),
     "codegen", "codegen.email", "author.email"),
    (commit("Fix\n\nGenerated-by: GitHub Copilot\n"), "copilot", "policy.generated-by",
     "trailer:Generated-by"),
]  # fmt: skip


@pytest.mark.parametrize(("c", "agent", "rule", "field"), SECONDARY)
def test_secondary_signatures(c, agent, rule, field):
    d = detect(c)
    assert d.agent == agent and d.role == "authored"
    assert evidence(d, rule).field == field


def test_every_builtin_rule_is_exercised():
    """The table and the examples must grow together."""
    seen = {rule for case in CASES for rule, _ in case[5]} | {case[2] for case in SECONDARY}
    assert {r["id"] for r in BUILTIN_RULES} - seen == set()


@pytest.mark.parametrize(
    ("value", "agent", "model"),
    [
        ("OpenAI Codex o3", "codex", "o3"),
        ("ChatGPT 4o", "chatgpt-4o", None),
        ("Claude Code claude-opus-4-5", "claude-code", "claude-opus-4-5"),
        ("an LLM, reviewed by me", "an-llm-reviewed-by-me", None),
    ],
)
def test_generated_by_that_names_an_ai_counts(value, agent, model):
    d = detect(commit(f"x\n\nGenerated-by: {value}\n"))
    assert (d.agent, d.model) == (agent, model)


def test_a_persons_assisted_by_is_not_an_agent_but_a_tools_beside_it_is():
    d = detect(
        commit(
            "x\n\nAssisted-by: Jane Doe <jane@example.com>\nAssisted-by: Claude:claude-opus-4-6\n"
        )
    )
    assert (d.agents, d.model) == (("claude",), "claude-opus-4-6")


@pytest.mark.parametrize(
    ("indent", "read"), [("", True), ("   ", True), ("    ", False), ("\t", False)]
)
def test_body_trailer_lines_indented_as_code_are_not_read(indent, read):
    d = detect(
        commit(
            f"Squash (#7)\n\n* Fix\n{indent}Co-authored-by: Claude <noreply@anthropic.com>\n\nok"
        )
    )
    assert (d.agent == "claude-code") is read


def test_kernel_commit_with_two_assistants_reports_both():
    d = detect(
        commit(
            "ksmbd: fix use-after-free in session teardown\n\nCc: stable@vger.kernel.org\n"
            "Assisted-by: Claude:claude-opus-4-6\nAssisted-by: Codex:gpt-5-4\n"
            "Signed-off-by: Michael Bommarito <michael.bommarito@gmail.com>\n"
        )
    )
    assert d.agents == ("claude", "codex")
    assert d.model == "claude-opus-4-6"
    assert [(e.rule, e.agent, e.matched) for e in d.evidence] == [
        ("policy.assisted-by", "claude", "Claude:claude-opus-4-6"),
        ("policy.assisted-by", "codex", "Codex:gpt-5-4"),
    ]


def test_evidence_shows_the_matched_text():
    d = detect(
        commit(
            "chore: bump\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
            "Co-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>\n"
        )
    )
    assert evidence(d, "claude-code.coauthor").matched == (
        "Claude Opus 4.5 <noreply@anthropic.com>"
    )
    # a body rule shows the line it found, not the whole body
    assert evidence(d, "claude-code.generated-line").matched == (
        "🤖 Generated with [Claude Code](https://claude.com/claude-code)"
    )
    # one evidence per rule, although the trailer line is also part of the body
    assert [e.rule for e in d.evidence].count("claude-code.coauthor") == 1


def test_matched_text_is_capped_and_keeps_the_match():
    long_name = "x" * 900
    d = detect(commit("t"), [("Co-authored-by", f"{long_name} <cursoragent@cursor.com>")])
    matched = evidence(d, "cursor.coauthor").matched
    assert len(matched) <= MAX_MATCHED
    assert "cursoragent@cursor.com" in matched


def test_unknown_model_placeholder_is_no_model():
    d = detect(commit("x"), [("Co-authored-by", "aider (unknown-model) <aider@aider.chat>")])
    assert (d.agent, d.model) == ("aider", None)


def test_claude_code_coauthor_is_not_a_model():
    d = detect(commit("x"), [("Co-Authored-By", "Claude Code <noreply@anthropic.com>")])
    assert (d.agent, d.model) == ("claude-code", None)


# --- humans ------------------------------------------------------------------------------

HUMAN_COMMITS = [
    commit("fix: handle empty input\n\nThe parser crashed on empty strings.\n"),
    commit("Release 1.2.0\n\nSigned-off-by: Jane Doe <jane@example.com>\n"),
    commit("feat: pair work\n\nCo-authored-by: Sam Roe <1234+samroe@users.noreply.github.com>\n"),
    commit("docs: map the claude model names\n\nMention Copilot, Cursor and aider in the FAQ.\n"),
    commit("Revert copilot/ branch cleanup\n", branch="feature/copilot-support"),
    commit("Bump lodash\n", author=Identity("dependabot[bot]",
           "49699333+dependabot[bot]@users.noreply.github.com", "dependabot[bot]", 49699333)),
    commit("ci: update\n", author=Identity("github-actions[bot]",
           "41898282+github-actions[bot]@users.noreply.github.com")),
    commit("Paint the water lilies\n", author=Identity("Claude Monet", "claude@monet.fr")),
    commit("Tidy\n", author=Identity("Paul (aider)x", "p@example.com")),
    commit("Merge pull request #12 from jane/aider-docs\n", committer=GITHUB),
    commit("Update\n\nReviewed-by: Claude Doe <claude@example.com>\n"),
    commit("fix: the Agent field\n\nAgent-Task: T-12\n"),
    commit(""),
    # People's branches with an agent's prefix but not its documented shape
    commit("Fix cursor position\n", branch="cursor/fix-position"),
    commit("Update the SDK\n", branch="claude/update-sdk"),
    commit("Fix typo\n", branch="devin/fix-typo"),
    # Addresses that merely contain an agent's address
    commit("x\n\nCo-authored-by: Champ <champ@ampcode.com>\n"),
    commit("x\n\nCo-authored-by: Spy <secret-agent@warp.dev>\n"),
    commit("x\n\nCo-authored-by: Bob <bob.noreply@opencode.ai>\n"),
    commit("x\n\nCo-authored-by: Not <notcursoragent@cursor.com>\n"),
    commit("x\n\nCo-authored-by: X <1198982749+copilot@users.noreply.github.com>\n"),
    commit("x\n\nCo-authored-by: X <1+xclaude[bot]@users.noreply.github.com>\n"),
    # Policy trailers naming a person or a code generator
    commit("x\n\nAssisted-by: Jane Doe <jane@example.com>\n"),
    commit("x\n\nGenerated-by: protoc 3.21\n"),
    commit("x\n\nGenerated-by: make update-codegen\n"),
    # Footers quoted in prose or in an indented code block
    commit("docs: attribution\n\nClaude Code adds \"Generated with [Claude Code](https://claude.com)\""
           " by default.\n"),
    commit("docs\n\nSee https://chatgpt.com/codex/tasks/ for details and "
           "https://cursor.com/agents/overview.\n"),
    commit("hook: strip AI trailers\n\nIt removes lines such as:\n\n"
           "    Co-authored-by: Claude <noreply@anthropic.com>\n\tMade-with: Cursor\n"),
    commit("Client generated with opencode-gen v2\n\nGenerated with opencode-gen v2\n"),
    # Lookalikes of the bare footers: a person's name or a tool after "Generated with"
    commit("data: fixtures\n\nGenerated with Devin's seeding script\n"),
    commit("art: icons\n\nGenerated with Crushinator 3\n"),
    commit("docs\n\nGenerated with Claude Code-like tools in mind.\n"),
    commit("docs\n\nWe never ship text Generated with Claude Code\n"),
    # A "# Context:" heading written by a person; aider's only when USER:/ASSISTANT: follow
    commit("design: cache\n\n# Context:\nThe old cache ignored TTLs.\nUSER: see #12\n"),
    commit("design: cache\n\nNotes\n# Context:\nUSER: a quoted transcript\n"),
    # Other people at Anthropic, Alibaba Cloud, Charm and Factory
    commit("Fix\n", author=Identity("Claude Shannon", "claude@anthropic.com")),
    commit("Fix\n", author=Identity("Jane", "jane@anthropic.com")),
    commit("x\n\nCo-authored-by: Li <li.qwen-coder@alibabacloud.com>\n"),
    commit("x\n\nCo-authored-by: Crusher <crusher@charm.land>\n"),
    commit("x\n\nCo-authored-by: Android <android@factory.ai>\n"),
    commit("x\n\nAssisted-by: Jane via Crush Co <jane@example.com>\n"),
    # github-actions[bot]'s own commits, whatever their name, are not Claude's
    commit("chore: release\n", author=Identity("github-actions[bot]",
           "41898282+github-actions[bot]@users.noreply.github.com", "github-actions[bot]",
           41898282, "Bot")),
]  # fmt: skip


@pytest.mark.parametrize("c", HUMAN_COMMITS, ids=range(len(HUMAN_COMMITS)))
def test_human_commits_detect_as_none(c):
    d = detect(c)
    assert d == Detection(None, "none", None, (), (), ())


# --- authored versus committed -------------------------------------------------------------


def test_aider_committing_a_humans_change_is_committed():
    d = detect(
        commit(
            "Fix the typo in README\n",
            author=Identity("Paul Gauthier", "paul@aider.chat"),
            committer=Identity("Paul Gauthier (aider)", "paul@aider.chat"),
        )
    )
    assert (d.agent, d.role) == ("aider", "committed")
    assert rules_of(d) == {"aider.committer-name"}


@pytest.mark.parametrize(
    ("message", "author", "role"),
    [
        ("aider: fix typo\n", "Jane Doe", "committed"),  # aider committed a person's edit
        ("aider: fix typo\n", "Jane Doe (aider)", "authored"),
        ("aider: fix typo\n\nCo-authored-by: aider (gpt-5) <aider@aider.chat>\n", "Jane Doe",
         "authored"),
    ],
)  # fmt: skip
def test_aiders_subject_prefix_takes_the_role_of_the_other_evidence(message, author, role):
    d = detect(
        commit(message, author=Identity(author, "j@example.com"),
               committer=Identity("Jane Doe (aider)", "j@example.com"))
    )  # fmt: skip
    assert (d.agent, d.role) == ("aider", role)
    assert "aider.subject-prefix" in rules_of(d)


def test_aiders_subject_prefix_alone_is_authored():
    assert detect(commit("aider: fix typo\n")).role == "authored"


def test_any_authored_evidence_makes_the_commit_authored():
    d = detect(
        commit(
            "feat: add cache\n\nCo-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>\n",
            author=Identity("Paul Gauthier", "paul@aider.chat"),
            committer=Identity("Paul Gauthier (aider)", "paul@aider.chat"),
        )
    )
    assert d.role == "authored"
    assert d.agents == ("claude-code", "aider")  # trailer beats a committer name


# --- spoofing ------------------------------------------------------------------------------


def test_another_accounts_id_on_a_bot_identity_does_not_count():
    """claude[bot] with an id that is neither claude[bot]'s nor the action's default."""
    spoofed = Identity(
        "claude[bot]", "5555+claude[bot]@users.noreply.github.com", "someone", 5555, "User"
    )
    d = detect(commit("docs: sync\n", author=spoofed))
    assert (d.agent, d.role, d.evidence) == (None, "none", ())
    by_rule = {m.rule: m for m in d.mismatches}
    assert set(by_rule) == {"claude-code.bot-email", "claude-code.bot-name"}
    email = by_rule["claude-code.bot-email"]
    assert email.field == "author.email"
    assert email.matched == "5555+claude[bot]@users.noreply.github.com"
    assert "5555" in email.note and "209825114" in email.note and "41898282" in email.note
    assert "author.github_id" in email.note
    assert d.refused == ("claude[bot]",)


def test_the_actions_default_identity_counts_without_api_data():
    """claude-code-action's defaults, bot_id 41898282 and bot_name claude[bot] (docs/usage.md),
    give claude[bot] <41898282+claude[bot]@users.noreply.github.com>: Claude Code's work."""
    default = Identity("claude[bot]", "41898282+claude[bot]@users.noreply.github.com")
    d = detect(commit("docs: sync\n", author=default))
    assert (d.agent, d.mismatches, d.refused) == ("claude-code", (), ())


def test_refused_names_only_agents_the_commit_is_not_credited_to():
    spoofed = Identity("claude[bot]", "claude@example.com", "github-actions[bot]", 5555)
    credited = detect(commit("x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n", spoofed))
    assert credited.mismatches and credited.refused == ()
    human = Identity("Copilot", "7+copilot@users.noreply.github.com")
    assert detect(commit("x\n", author=human)).refused == ("Copilot",)


def test_noreply_address_id_is_checked_without_api_data():
    spoofed = Identity("claude[bot]", "5555+claude[bot]@users.noreply.github.com")
    d = detect(commit("docs: sync\n", author=spoofed))
    assert d.agent is None
    assert "(from author.email)" in d.mismatches[0].note


def test_spoofed_identity_still_leaves_the_other_signals():
    spoofed = Identity("claude[bot]", "claude@example.com", "someone", 5555)
    d = detect(commit("fix\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n", author=spoofed))
    assert d.agent == "claude-code"
    assert rules_of(d) == {"claude-code.coauthor"}
    assert [m.rule for m in d.mismatches] == ["claude-code.bot-name"]


def test_api_id_is_authoritative_over_the_email():
    genuine = Identity("claude[bot]", "1+claude[bot]@users.noreply.github.com", None, 209825114)
    d = detect(commit("x\n", author=genuine))
    assert rules_of(d) == {"claude-code.bot-id", "claude-code.bot-email", "claude-code.bot-name"}
    assert not d.mismatches


def test_spoofed_bot_coauthor_trailer():
    d = detect(
        commit("x"),
        [("Co-authored-by", "jules <12345+google-labs-jules[bot]@users.noreply.github.com>")],
    )
    assert d.agent is None
    assert d.mismatches[0].rule == "jules.bot-coauthor"
    assert d.mismatches[0].field == "trailer:Co-authored-by"


def test_a_human_account_named_copilot_is_a_mismatch():
    d = detect(commit("x\n", author=Identity("Copilot", "c@example.com", "copilot-fan", 5555)))
    assert d.agent is None
    assert [m.rule for m in d.mismatches] == ["copilot.name"]


# --- precedence ----------------------------------------------------------------------------


def test_identity_beats_trailer_and_model_stays_with_its_agent():
    d = detect(
        commit("x\n\nCo-authored-by: aider (gpt-5) <aider@aider.chat>\n", author=COPILOT_AGENT)
    )
    assert d.agents == ("copilot", "aider")
    assert d.model is None  # aider's model is not Copilot's
    assert [e.agent for e in d.evidence] == ["copilot", "copilot", "aider"]


def test_github_id_beats_email():
    d = detect(
        commit(
            "x\n",
            author=Identity("Cursor Agent", "cursoragent@cursor.com", "Copilot", 198982749),
        )
    )
    assert d.agents[0] == "copilot"
    assert set(d.agents) == {"copilot", "cursor"}


def test_branch_is_the_weakest_signal():
    d = detect(
        commit("x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n", branch="codex/x-1"),
    )
    assert d.agents == ("claude-code", "codex")


def test_equal_strength_ties_follow_the_table_order():
    d = detect(
        commit("x"),
        [("Co-authored-by", "Codex <noreply@openai.com>"),
         ("Co-authored-by", "Claude <noreply@anthropic.com>")],
    )  # fmt: skip
    assert d.agents == ("claude-code", "codex")


def test_model_comes_from_the_primary_agents_strongest_evidence():
    d = detect(
        commit("x"),
        [("Agent", "claude-code/2.0.31"),
         ("Co-Authored-By", "Claude Opus 4.5 <noreply@anthropic.com>")],
    )  # fmt: skip
    assert (d.agent, d.model) == ("claude-code", "Claude Opus 4.5")
    assert rules_of(d) == {"protocol.agent", "claude-code.coauthor"}


# --- trailers: given, parsed lazily, and trailer-shaped lines in the body ----------------


def test_given_trailers_are_used_instead_of_parsing():
    c = commit("feat: x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n")
    # an explicit empty list: the trailer block is not consulted, the body line still is
    d = detect(c, [])
    assert d.agent == "claude-code"
    assert evidence(d, "claude-code.coauthor").field == "body"
    assert detect(c, [("Made-with", "Cursor")]).agents == ("cursor", "claude-code")


def test_trailer_line_outside_the_trailer_block_is_found_in_the_body():
    message = (
        "Add search (#40)\n\n* feat: index titles\n\n"
        "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>\n"
        "This paragraph mixes prose with the trailer, so git does not parse it.\n\n"
        "Co-authored-by: Sam Roe <1234+samroe@users.noreply.github.com>\n"
    )
    d = detect(commit(message))
    e = evidence(d, "claude-code.coauthor")
    assert e.field == "body"
    assert e.matched == "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>"
    assert d.model == "Claude Sonnet 4.5"


def test_body_evidence_ranks_below_a_real_trailer():
    message = (
        "Squash\n\nCo-authored-by: Codex <noreply@openai.com>\nprose that hides it\n\n"
        "Co-authored-by: Cursor <cursoragent@cursor.com>\n"
    )
    assert detect(commit(message)).agents == ("cursor", "codex")


def test_case_insensitive_trailer_keys_and_emails():
    d = detect(commit("x"), [("CO-AUTHORED-BY", "CLAUDE OPUS 4.5 <NoReply@Anthropic.com>")])
    assert (d.agent, d.model) == ("claude-code", "CLAUDE OPUS 4.5")
    assert evidence(d, "claude-code.coauthor").field == "trailer:CO-AUTHORED-BY"
    d = detect(commit("x\n", author=Identity("Bot", "198982749+COPILOT@USERS.NOREPLY.GITHUB.COM")))
    assert d.agent == "copilot"


# --- hostile input -------------------------------------------------------------------------


def test_megabyte_message_still_reads_the_footer():
    message = "Squash\n\n" + "* a line of a long squash merge\n" * 40_000
    message += "\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n"
    d = detect(commit(message), [])
    assert len(message) > 1_000_000
    assert d.agent == "claude-code"  # the tail of a long message is scanned


@pytest.mark.parametrize(
    "value",
    [
        "a" + " " * 990 + "x",
        "a:" * 500,
        "Claude" + " " * 990 + "x <noreply@anthropic.com",
        "1" * 990 + "+google-labs-jules[bot]@users.noreply.github.com",
        "aider (" + "x" * 990,
        "a/" * 500,
    ],
)
def test_ten_thousand_hostile_trailers_give_the_verdict_of_one_of_each(value):
    """A repeated trailer adds nothing: each rule keeps its first hit and its text is capped.
    Bounded patterns; the time these take is measured in bench/, not asserted here."""
    keys = ["Co-authored-by", "Assisted-by", "Generated-by", "Agent"]
    trailers = [(keys[i % 4], value) for i in range(10_000)]
    d = detect(commit("t"), trailers)
    assert d == detect(commit("t"), trailers[:4])
    assert d.role == "authored" and d.agent in d.agents  # Assisted-by credits any name
    assert len({e.rule for e in d.evidence}) == len(d.evidence)
    assert all(len(e.matched) <= MAX_MATCHED for e in d.evidence)
    assert all(0 < len(a) <= MAX_AGENT_NAME for a in d.agents)


def test_many_spoofed_trailer_lines_in_the_body():
    message = (
        "t\n" + "Co-authored-by: claude[bot] <1+claude[bot]@users.noreply.github.com>\n" * 15_000
    )
    d = detect(commit(message), [])
    assert d.agent is None and len(d.mismatches) == 1


# --- property: never raises, always a consistent verdict ----------------------------------

SNIPPETS = [
    "Co-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>",
    "Co-authored-by: aider (gpt-5) <aider@aider.chat>",
    "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
    "Assisted-by: Claude:claude-3-opus coccinelle",
    "Generated-By: ",
    "Co-authored-by: ",
    "# Aider chat conversation:",
    "aider: ",
    "https://chatgpt.com/codex/tasks/task_e_",
    "Agent: ",
    "Made-with: Cursor",
    "\n\n",
    "Signed-off-by: A <a@b>",
    "198982749+Copilot@users.noreply.github.com",
]
IDS = [209825114, 198982749, 158243242, 161369871, 41898282]

texts = st.text(max_size=60)
identities = st.builds(
    Identity,
    name=st.one_of(texts, st.sampled_from(["claude[bot]", "Copilot", "x (aider)", "Devin AI"])),
    email=st.one_of(
        texts,
        st.sampled_from(IDS).map(lambda i: f"{i}+claude[bot]@users.noreply.github.com"),
    ),
    github_login=st.none() | texts,
    github_id=st.none() | st.sampled_from(IDS) | st.integers(0, 2**63),
    github_type=st.none() | st.sampled_from(["Bot", "User"]),
)
messages = st.lists(st.one_of(texts, st.sampled_from(SNIPPETS)), max_size=10).map("".join)
trailer_lists = st.none() | st.lists(
    st.tuples(
        st.one_of(texts, st.sampled_from(["Co-authored-by", "Assisted-by", "Agent", "Made-with"])),
        st.one_of(texts, st.sampled_from(SNIPPETS)),
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(
    message=messages,
    author=identities,
    committer=identities,
    branch=st.none() | texts,
    trailers=trailer_lists,
)
def test_detect_never_raises_and_is_consistent(message, author, committer, branch, trailers):
    c = CommitInfo("0" * 40, message, author, committer, branch=branch)
    d = detect(c, trailers)
    assert d.role in ROLES
    assert (d.agent is None) == (d.role == "none") == (not d.agents) == (not d.evidence)
    if d.agent is not None:
        assert d.agent == d.agents[0]
        assert {e.agent for e in d.evidence} == set(d.agents)
        roles = {DEFAULT_RULES[e.rule].role for e in d.evidence}
        committed_only = "committed" in roles and "authored" not in roles
        assert d.role == ("committed" if committed_only else "authored")
    assert d.model is None or 0 < len(d.model) <= MAX_MATCHED
    for e in d.evidence + d.mismatches:
        assert e.rule in DEFAULT_RULES
        assert len(e.matched) <= MAX_MATCHED
    assert all(m.note for m in d.mismatches)
    assert detect(c, trailers) == d
