"""Whether a robot sent an inbound message: bounces, delivery and read reports, out-of-office
replies, complaint loops and list servers (RFC 3834, RFC 3464, RFC 6522, RFC 8098, RFC 5965).

Automatic mail is never a request nor a requester's follow-up (P1.1, P6.1): answering it would
loop with the robot, and a late robot's reply would escalate a ticket. Well-behaved robots say
so in a header or the shape of the message; many do not (Exchange and Outlook out-of-office
replies, iCloud, old bounce formats, SMS gateways), and are known by their sender's role or by
the subject their servers write, in the languages of the desk's learners and of the servers.

What is not caught here still cannot loop: the desk answers one sender's requests only a few
times an hour (`bursts`).
"""

from __future__ import annotations

import re
from email.message import Message

# RFC 3834 says not to answer these; robots write from them.
_ROBOT_MAILBOX = re.compile(
    r"^(?:mailer-daemon|postmaster|post_master|no[-_.]?reply|do[-_.]?not[-_.]?reply)"
    r"(?:[-+._][^@]*)?$",
    re.IGNORECASE,
)

# A list server's own mailboxes, when the message carries a list's headers (RFC 2369, RFC 2919):
# its requests, bounces and moderation notices.
_LIST_ROBOT_MAILBOX = re.compile(
    r"^(?:owner-[^@]+|[^@]+-(?:owner|request|bounces?|admin|ctl))$", re.IGNORECASE
)
_LIST_FIELDS = ("List-Id", "List-Subscribe", "List-Unsubscribe", "X-MLServer", "X-Mailman-Version")

# Parts only a machine writes: delivery reports, read reports, complaint reports, and the
# returned headers of an undelivered message.
_REPORT_PARTS = frozenset(
    {
        "multipart/report",
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
        "text/rfc822-headers",
    }
)
_MAX_PARTS_LOOKED_AT = 50

_AUTOREPLY = (
    r"automatic reply|auto[ -]?reply|auto[ -]?response|autoresponse|out of (?:the )?office"
    r"(?: autoreply)?|réponse automatique|abwesenheitsnotiz|automatische antwort"
    r"|respuesta automática|risposta automatica|resposta automática|automatyczna odpowiedź"
    r"|رد تلقائي|الرد التلقائي"
    r"|رد آلي"
)
# The words Exchange, Outlook and other servers put before an undelivered message's subject,
# in the languages they speak, and the subjects of other servers' bounce notices.
_UNDELIVERED = (
    r"undeliverable|undelivered(?: mail(?: returned to sender)?)?|non remis|unzustellbar"
    r"|nicht zustellbar|no se puede entregar|non recapitabile|onbestelbaar"
    r"|não é possível entregar|غير قابل للتسليم|تعذر التسليم"
    r"|delivery (?:status(?: notification)?|failure(?: notification)?|has failed)"
    r"|mail delivery (?:failed|failure|warning|problem|system|subsystem)"
    r"|mail could not be delivered|message (?:could not be|not) delivered"
    r"|returned mail|failure notice"
)
_AUTOMATIC_SUBJECT = re.compile(
    rf"\s*(?:(?:{_AUTOREPLY})\s*:"  # an out-of-office reply: the words, then a colon
    rf"|(?:{_UNDELIVERED})\s*(?:[:(-]|$)"  # a bounce: the words, then a colon, ( or nothing
    r"|complaint about message from )",  # a complaint loop's report, in Hotmail's old form
    re.IGNORECASE,
)
# Old Exchange servers append the word instead: "<subject> : non remis".
_UNDELIVERED_AFTER = re.compile(
    r":\s*(?:non remis|undeliverable|unzustellbar)\s*(?:\([^()]*\))?\s*$", re.IGNORECASE
)

_NULL_ADDRESS = re.compile(r"<\s*>")


def is_automatic(message: Message, sender: str, subject: str) -> bool:
    """Whether a robot sent the message. `sender` is the From address, or the raw From field
    when no address could be read from it."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    local = sender.rpartition("@")[0].strip(' <"') if "@" in sender else sender.strip(' <>"')
    local = local.rpartition(" ")[2].rpartition("<")[2]
    return (
        (auto != "" and auto != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        # Exchange marks its own automatic messages so that other robots do not answer them.
        or message.get("X-Auto-Response-Suppress") is not None
        # The null reverse-path, as the delivering server recorded it (RFC 5321 4.4), or as
        # some servers write it into From.
        or str(message.get("Return-Path", "")).strip() == "<>"
        or _NULL_ADDRESS.search(sender) is not None
        or _ROBOT_MAILBOX.match(local) is not None
        or (
            _LIST_ROBOT_MAILBOX.match(local) is not None
            and any(message.get(name) is not None for name in _LIST_FIELDS)
        )
        or _has_report_part(message)
        or _AUTOMATIC_SUBJECT.match(subject) is not None
        or _UNDELIVERED_AFTER.search(subject) is not None
    )


def _has_report_part(message: Message) -> bool:
    """Whether the message has a report's part; a message forwarded inside it is not looked
    into (a person may forward a bounce to ask about it)."""
    parts, looked_at = [message], 0
    while parts and looked_at < _MAX_PARTS_LOOKED_AT:
        part = parts.pop()
        looked_at += 1
        if part.get_content_type() in _REPORT_PARTS:
            return True
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            parts.extend(p for p in part.get_payload() if isinstance(p, Message))
    return False
