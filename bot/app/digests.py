"""Weekly digests, sent exactly once per (installation, channel, period).

Each send is claimed in ``digest_sends`` before it is made, so a restart, a retry, a second
scheduler or a second replica never sends twice. ``run_due`` sends, for every configured digest,
the most recent period whose scheduled time has passed: a scheduler that was down for three
weeks sends the latest one, once (coalesced), not one per missed tick. docs/digests.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.config import DigestSpec, Settings
from bot.digest.model import Digest, Period
from bot.digest.period import period_of
from bot.digest.query import active_installations, build_digest
from bot.ledger.store import DigestSend, claim_digest_send, finish_digest_send, installation_state

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=15)  # a claim this old without an outcome: its sender died
RETRY_FIRST = timedelta(minutes=5)  # a failed send is retried after 5 min, 10, 20, ... 6 h
RETRY_MAX = timedelta(hours=6)
_LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32),
             timedelta(days=367))  # fmt: skip

Sender = Callable[[Mapping[str, Any], Digest, Settings], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    installation_id: int
    channel: str
    period: str
    status: str  # sent or failed
    error: str | None = None


def default_send(channel: Mapping[str, Any], digest: Digest, settings: Settings) -> None:
    """Send through ``bot.channels`` (imported here: the channels are optional at import)."""
    from bot.channels import make_channel

    make_channel(channel, settings).send(digest)


# --------------------------------------------------------------------------- when


def latest_fire(trigger: Any, now: datetime) -> datetime | None:
    """The schedule's most recent fire time at or before ``now`` (within a year), else None.

    Searched over growing windows, so an every-minute schedule costs a few steps, not 500,000.
    """
    for window in _LOOKBACK:
        last = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None:
            return last
    return None


def due_period(spec: DigestSpec, now: datetime) -> Period | None:
    """The week the latest scheduled send is for: the ISO week before that fire time."""
    fire = latest_fire(spec.trigger(), now)
    return None if fire is None else period_of("last-week", spec.timezone, fire)


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def may_take(send: DigestSend, now: datetime, force: bool = False) -> bool:
    """Whether an existing send may be claimed again: never a sent one unless forced."""
    if send.status == "claimed":
        return now - send.claimed_at >= CLAIM_TIMEOUT
    if send.status == "failed":
        return force or now - send.claimed_at >= retry_delay(send.attempts)
    return force


# --------------------------------------------------------------------------- sending


def run_due(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    send: Sender | None = None,
) -> list[Outcome]:
    """Send every digest whose period is due and not yet sent; the scheduler's job.

    ``send`` defaults to ``default_send`` (the channels); tests inject a recording fake."""
    now = now or datetime.now(UTC)
    outcomes: list[Outcome] = []
    for spec in settings.digests:
        period = due_period(spec, now)
        if period is None:
            continue
        for installation_id in installations(engine, spec):
            outcomes += send_period(engine, settings, spec, installation_id, period, now, send)
    return outcomes


def installations(engine: Engine, spec: DigestSpec) -> list[int]:
    """The spec's installation, or every active one for "*"; never a suspended or deleted one."""
    with Session(engine) as session:
        if spec.installation == "*":
            return active_installations(session)
        state = installation_state(session, spec.installation)
    return [spec.installation] if state in (None, "active") else []


def send_period(
    engine: Engine,
    settings: Settings,
    spec: DigestSpec,
    installation_id: int,
    period: Period,
    now: datetime,
    send: Sender | None = None,
    force: bool = False,
) -> list[Outcome]:
    """Send one period's digest to each unmuted channel that this caller claims.

    The digest is built once, after the first claim; a channel failing (or the build) is
    recorded as failed for that channel only and retried later with backoff.
    """
    send = send or default_send
    built: list[Digest] = []
    outcomes = []
    for channel in spec.channels:
        name = channel["name"]
        if name in spec.muted or not _claim(engine, installation_id, name, period, now, force):
            continue
        try:
            if not built:
                built.append(_build(engine, settings, spec, installation_id, period))
            send(channel, built[0], settings)
        except Exception as exc:  # a channel's failure must not stop the others
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("digest %s to %s failed: %s", period.label, name, error)
            outcomes.append(Outcome(installation_id, name, period.label, "failed", error))
            _finish(engine, installation_id, name, period, now, error)
        else:
            outcomes.append(Outcome(installation_id, name, period.label, "sent"))
            _finish(engine, installation_id, name, period, now, None)
    return outcomes


def _claim(engine, installation_id, channel, period: Period, now, force) -> bool:
    with Session(engine) as session, session.begin():
        return claim_digest_send(session, installation_id, channel, period.label, now,
                                 lambda send: may_take(send, now, force))  # fmt: skip


def _finish(engine, installation_id, channel, period: Period, now, error) -> None:
    with Session(engine) as session, session.begin():
        finish_digest_send(session, installation_id, channel, period.label, now, error)


def _build(engine, settings, spec: DigestSpec, installation_id: int, period: Period) -> Digest:
    with Session(engine) as session:
        return build_digest(session, installation_id, period, settings, spec.repositories,
                            spec.dashboard_url, spec.timezone)  # fmt: skip


# --------------------------------------------------------------------------- the scheduler


def add_digest_job(scheduler: Any, engine: Engine, settings: Settings) -> None:
    """Every minute, never two at once in a process; across processes the claim decides."""
    scheduler.add_job(run_due, "interval", minutes=1, args=(engine, settings), id="digests",
                      coalesce=True, max_instances=1)  # fmt: skip
