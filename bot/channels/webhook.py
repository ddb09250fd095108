"""Generic JSON webhook: the whole digest, versioned, signed with HMAC-SHA256 like GitHub's.

The body is ``{"schema": "yield-auditor.digest", "version": 1, "digest": {...}}`` (documented
in docs/channels.md); amounts of money are decimal strings so no float rounds them, shares are
numbers in 0..1, missing values are null. With a secret, ``X-Yield-Auditor-Signature-256:
sha256=<hex>`` is the HMAC-SHA256 of the raw body, so a receiver can check where it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.channels.base import Spec, encode
from bot.channels.http import ChatChannel
from bot.digest.model import Digest

SCHEMA = "yield-auditor.digest"
VERSION = 1
SIGNATURE_HEADER = "X-Yield-Auditor-Signature-256"
DELIVERY_HEADER = "X-Yield-Auditor-Delivery"


def render(digest: Digest) -> dict[str, Any]:
    return {"schema": SCHEMA, "version": VERSION, "digest": plain(digest)}


def plain(value: Any) -> Any:
    """JSON values: dataclasses as objects, Decimal as string, datetimes in ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(ChatChannel):
    type = "webhook"

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self._secret = spec.secret("secret", required=False)

    def render(self, digest: Digest) -> dict[str, Any]:
        return render(digest)

    def send(self, digest: Digest) -> None:
        """POST the body; the delivery id lets a receiver drop a repeated delivery."""
        body = encode(self.render(digest))
        key = f"{digest.installation_id}:{digest.period.label}:{self.name}"
        headers = {DELIVERY_HEADER: key, "User-Agent": "yield-auditor"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        self.sender.post(body, headers)
