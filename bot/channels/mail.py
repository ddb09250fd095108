"""E-mail over SMTP: multipart/alternative with the digest's own renderings
(``bot.digest.render``): the text part is ``render_text`` (the trend as lines, no chart), the HTML
part ``render_html``, the same document ``yield-auditor digest --preview --format html`` prints,
autoescaped, with the trend as inline SVG charts and as a table for clients that drop SVG.

``security`` is ``starttls`` (default, port 587), ``ssl`` (port 465) or ``none`` (port 25, for
a relay on localhost); with ``starttls`` a server that does not offer it is an error, never a
silent downgrade. Transient failures (4xx replies, dropped connections) are retried with
backoff; a 5xx reply is final. The password is a secret: registered, never in a message.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate

from bot.channels import content as c
from bot.channels.base import Channel, ChannelError, Spec
from bot.digest.model import Digest
from bot.digest.render import render_html, render_text

logger = logging.getLogger(__name__)
SECURITY = {"starttls": 587, "ssl": 465, "none": 25}
TIMEOUT_SECONDS = 30.0
MAX_SUBJECT = 200
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
_PERMANENT = (smtplib.SMTPNotSupportedError, smtplib.SMTPRecipientsRefused)


def render(digest: Digest, sender: str, to: list[str], name: str) -> EmailMessage:
    """The message: subject with the headline, text and HTML parts, a stable Message-ID."""
    message = EmailMessage()
    message["Subject"] = c.clean(f"{c.title(digest)}: {digest.headline}", MAX_SUBJECT)
    message["From"] = sender
    message["To"] = ", ".join(to)
    key = re.sub(r"[^A-Za-z0-9.-]", "-", f"{digest.installation_id}.{digest.period.label}.{name}")
    message["Message-ID"] = f"<digest.{key}@yield-auditor>"
    message.set_content(render_text(digest))
    message.add_alternative(render_html(digest), subtype="html")
    return message


class EmailChannel(Channel):
    type = "email"

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.to = _addresses(spec)
        self.sender = spec.text("from")
        if not _ADDRESS.fullmatch(self.sender):
            raise spec.error("'from' must be one e-mail address")
        self.host = spec.text("host")
        self.security = spec.raw.get("security", "starttls")
        if self.security not in SECURITY:
            raise spec.error(f"'security' must be one of {', '.join(SECURITY)}")
        self.port = spec.integer("port", SECURITY[self.security])
        self.username = spec.optional("username")
        self._password = spec.secret("password", required=self.username is not None)

    def render(self, digest: Digest) -> EmailMessage:
        return render(digest, self.sender, self.to, self.name)

    def send(self, digest: Digest) -> None:
        """Deliver once; retried on transient failures, at most ``retries`` more times."""
        message = self.render(digest)
        message["Date"] = formatdate(usegmt=True)
        for attempt in range(self.retries + 1):
            failure = self._attempt(message)
            if failure is None:
                return
            logger.warning("%s (attempt %d)", failure, attempt + 1)
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise ChannelError(failure)

    def _attempt(self, message: EmailMessage) -> str | None:
        """None once sent, the failure if it may pass, or ``ChannelError`` if it will not."""
        try:
            self._deliver(message)
        except _PERMANENT as exc:
            raise ChannelError(f"channel {self.name!r}: {type(exc).__name__}") from None
        except smtplib.SMTPResponseException as exc:
            failure = f"channel {self.name!r}: the SMTP server answered {exc.smtp_code}"
            if exc.smtp_code >= 500:
                raise ChannelError(failure) from None
            return failure
        except (smtplib.SMTPException, OSError) as exc:
            return f"channel {self.name!r}: {type(exc).__name__}"
        return None

    def _deliver(self, message: EmailMessage) -> None:
        with self._connect() as smtp:
            if self.username is not None:
                assert self._password is not None
                smtp.login(self.username, self._password)
            smtp.send_message(message, from_addr=self.sender, to_addrs=self.to)

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT_SECONDS, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp


def _addresses(spec: Spec) -> list[str]:
    to = spec.raw.get("to")
    if isinstance(to, str):
        to = [to]
    if (
        not isinstance(to, list)
        or not to
        or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in to)
    ):
        raise spec.error("'to' must be a list of e-mail addresses")
    return to
