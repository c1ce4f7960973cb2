"""An inbound email as the rules read it: sender, recipients, subject, text, the files it
carries, whether a robot sent it, and what the receiving servers said of its sender (P1.1).
Refuses what cannot be read as an email, is too large, or does not name one plain sender.

Controls and bidi overrides are removed from the subject, the text and the sender's name, as
the web form refuses them (`domain.text`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

from application.mail.address import SenderRefused, read_sender
from application.mail.automatic import is_automatic
from application.mail.statements import unquoted
from domain.reference import Reference
from domain.text import printable

MAX_MESSAGE_BYTES = 36 * 1024 * 1024
"""Larger messages are refused at the door. The files a message may bring (25 MB in all,
`domain.attachment`) take about 34 MB in base64 (4/3, and a line break every 76 characters),
and decoding only shrinks: no part of a message within this size decodes to more."""

MAX_TEXT_CHARS = 20_000
"""A longer text body is cut: the ticket records a request, not an archive."""


# RFC 5322 msg-id, strictly: printable ASCII atoms around one "@", no whitespace, no encoded
# word (`=?`), bounded. Anything else is never kept, and so never written into a header of ours.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_MESSAGE_ID = re.compile(rf"<{_ATOM}@(?:{_ATOM}|\[[!-Z^-~]*\])>")
MAX_MESSAGE_ID_CHARS = 250


def strict_message_id(value: str) -> str | None:
    """The value if it is a well-formed msg-id that is safe to echo in a header, else None."""
    value = value.strip()
    if len(value) > MAX_MESSAGE_ID_CHARS or "=?" in value or not _MESSAGE_ID.fullmatch(value):
        return None
    return value


class MessageRefused(ValueError):
    """The message cannot be read as an email, or is too large."""


class AutomaticWithoutSender(MessageRefused):
    """A bounce or automatic reply that names no usable sender: to be ignored, not refused
    (refusing it would make the mail server bounce a bounce)."""


@dataclass(frozen=True)
class InboundEmail:
    """What the rules need from a raw message."""

    message_id: str
    sender: str
    sender_name: str | None
    sender_domain: str
    """The sender's domain in ASCII (IDNA), as authentication results name it."""
    recipients: frozenset[str]
    subject: str
    text: str
    automatic: bool
    authentication_results: tuple[str, ...]
    """The Authentication-Results fields as they arrived, topmost first (RFC 8601)."""
    replies_to: tuple[str, ...] = ()
    """The well-formed msg-ids the message answers: In-Reply-To, then References from the
    newest back."""
    files: tuple[tuple[str | None, bytes], ...] = field(default=(), repr=False)
    """The files it carries, as named by the sender and as sent: nothing is trusted of them
    yet (`application.attachments.inspection` tells what they are and what is kept)."""

    @property
    def quoted_reference(self) -> Reference | None:
        """The reference quoted in the subject, else in the body (P6.1)."""
        return Reference.find_in(self.subject) or Reference.find_in(self.text)

    @property
    def language(self) -> str:
        """Arabic unless the message is mostly in Latin letters."""
        sample = self.subject + self.text[:2000]
        arabic = sum(1 for c in sample if "\u0600" <= c <= "\u06ff")
        latin = sum(1 for c in sample if c.isascii() and c.isalpha())
        return "ar" if arabic >= latin else "en"

    @property
    def new_text(self) -> str:
        """The text without the lines it quotes from earlier messages."""
        return unquoted(self.text).strip() or self.text


# What a person's email never needs, and what makes the standard parser slow (its cost grows
# with recipients and parts far faster than with bytes): refused before the full parse.
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADER_LINES = 2_000
MAX_RECIPIENTS = 100
MAX_PARTS = 200
MAX_DEPTH = 8
MAX_FIELD_BYTES = 64 * 1024
"""A longer header field (but the subject, of which the start is read) is refused: decoded by
the standard parser, its cost would grow with the square of its length."""
MAX_SUBJECT_BYTES = 4 * 1024
_ADDRESS_FIELDS = ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Delivered-To", "X-Original-To")
_BOUNDARY_LINE = re.compile(rb"^--[ -~]{1,70}?\r?$", re.MULTILINE)


def _within_bounds(raw: bytes) -> None:
    """Refuse a message over the bounds, looking at its bytes only (P7: the desk stays up)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageRefused(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    header = raw if end < 0 else raw[:end]
    if len(header) > MAX_HEADER_BYTES or header.count(b"\n") > MAX_HEADER_LINES:
        raise MessageRefused("the message's header is too large")
    # Every address holds an "@": counted in the raw address fields, before any is parsed.
    fields = BytesHeaderParser(policy=policy.compat32).parsebytes(header)
    named = sum(str(v).count("@") for name in _ADDRESS_FIELDS for v in fields.get_all(name) or [])
    if named > MAX_RECIPIENTS:
        raise MessageRefused(f"the message names more than {MAX_RECIPIENTS} addresses")
    for name, value in fields.items():
        if len(str(value)) > MAX_FIELD_BYTES and name.lower() != "subject":
            raise MessageRefused(f"the message's {name[:40]} field is too long")
    # Every MIME part starts at a boundary line: their count bounds the parts, and so the depth.
    if len(_BOUNDARY_LINE.findall(raw)) > MAX_PARTS:
        raise MessageRefused(f"the message has more than {MAX_PARTS} parts")


def _depth(message: Message, limit: int = MAX_DEPTH) -> int:
    """How deeply parts nest, counted no further than one past `limit`."""
    if limit < 0 or not message.is_multipart():
        return 0
    children = message.get_payload()
    assert isinstance(children, list)
    return 1 + max((_depth(c, limit - 1) for c in children if isinstance(c, Message)), default=0)


def parse_email(raw: bytes, envelope_recipients: Sequence[str] = ()) -> InboundEmail:
    """Read a raw RFC 5322 message; refuse what cannot be read as one, or is out of bounds."""
    _within_bounds(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        senders = _raw_fields(message, "From")
        header_recipients = [
            address
            for name in ("To", "Cc", "Delivered-To", "X-Original-To")
            for _, address in getaddresses([str(v) for v in message.get_all(name) or []])
        ]
        subject = _subject(message)
        # The header as it arrived: decoding it would turn an encoded word into line breaks.
        raw_id = next((str(v) for k, v in message.raw_items() if k.lower() == "message-id"), "")
    except Exception as error:  # any defect the parser trips on: refuse, never crash
        raise MessageRefused(f"the message cannot be read: {error}") from error
    try:
        sender = read_sender(senders)
    except SenderRefused as refusal:
        if is_automatic(message, " ".join(senders), subject):
            raise AutomaticWithoutSender(str(refusal)) from None
        raise MessageRefused(str(refusal)) from None
    if _depth(message) > MAX_DEPTH:
        raise MessageRefused(f"the message's parts nest deeper than {MAX_DEPTH}")
    recipients = envelope_recipients or header_recipients
    body = _body(message)
    return InboundEmail(
        # A missing or malformed id is replaced by one of ours, derived from the bytes, so a
        # redelivery is still recognised; it names no host and is never used for threading.
        message_id=strict_message_id(raw_id) or f"<sha256.{hashlib.sha256(raw).hexdigest()}>",
        sender=sender.address,
        sender_name=sender.name,
        sender_domain=sender.domain,
        recipients=frozenset(a.strip().lower() for a in recipients if a.strip()),
        subject=subject[:300],
        text=_text(body),
        automatic=is_automatic(message, sender.address, subject),
        authentication_results=tuple(_raw_fields(message, "Authentication-Results")),
        replies_to=_replies_to(message),
        files=_files(message, body),
    )


def _replies_to(message: Message) -> tuple[str, ...]:
    """In-Reply-To's ids, then References' newest first; only strict msg-ids, each once."""
    found: list[str] = []
    for name in ("In-Reply-To", "References"):
        for value in _raw_fields(message, name):
            ids = _ANY_ID.findall(value)
            found.extend(reversed(ids) if name == "References" else ids)
    strict = (strict_message_id(candidate) for candidate in found[:MAX_THREAD_IDS])
    return tuple(dict.fromkeys(candidate for candidate in strict if candidate))


_ANY_ID = re.compile(r"<[^<>\s]{1,250}>")  # longer ones are never strict msg-ids anyway
MAX_THREAD_IDS = 100


def _subject(message: Message) -> str:
    """The subject, decoded from its first `MAX_SUBJECT_BYTES` only: the standard parser's
    cost grows far faster than the length of an encoded header (a 240 KB subject took half a
    gigabyte), and the desk keeps 300 characters of it."""
    raw = next((str(v) for k, v in message.raw_items() if k.lower() == "subject"), "")
    raw = re.sub(r"\r?\n(?=[ \t])", "", raw)
    if len(raw) > MAX_SUBJECT_BYTES:
        cut = raw.rfind(" ", 0, MAX_SUBJECT_BYTES)  # between encoded words, not inside one
        raw = raw[: cut if cut > 0 else MAX_SUBJECT_BYTES]
    decoded = str(policy.default.header_factory("Subject", raw))
    return " ".join(printable(decoded, multiline=False).split())


def _raw_fields(message: Message, name: str) -> list[str]:
    """The fields named `name` as they arrived (no encoded word decoded), unfolded, in order."""
    values = (value for key, value in message.raw_items() if key.lower() == name.lower())
    # The parser keeps bytes that are not ASCII as surrogates: they are UTF-8 (RFC 6532).
    return [
        re.sub(r"\r?\n(?=[ \t])", "", value)
        .encode("utf-8", "surrogateescape")
        .decode("utf-8", "replace")
        .strip()
        for value in values
    ]


def _body(message: EmailMessage) -> Message | None:
    """The part that holds the message's text: its plain part, else its HTML part."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a broken MIME tree still may have a readable payload
        part = None
    if part is None and message.get_content_maintype() == "text":
        part = message
    return part


def _text(part: Message | None) -> str:
    """The text of the body part, HTML read as text; never raises."""
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_subtype() == "html":
        text = _html_to_text(text)
    text = printable(text.replace("\r\n", "\n"), multiline=True).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n[…]"
    return text


# What signs or wraps a message is not a file its sender attached.
_NOT_FILES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-encrypted",
    }
)
_AS_SENT = policy.default.clone(refold_source="none")


def _files(message: Message, body: Message | None) -> tuple[tuple[str | None, bytes], ...]:
    """The files the message carries, in order: parts attached, parts shown inline that have a
    name, and parts that are not text (an image a multipart/related body shows by its cid).
    Their declared types are not believed: only what they are not (a text part, a signature)."""
    found: list[tuple[str | None, bytes]] = []
    for part in _leaves(message):
        if part is body or part.get_content_type() in _NOT_FILES:
            continue
        name = _file_name(part)
        if name is None and part.get_content_disposition() != "attachment":
            if part.get_content_maintype() in ("text", "multipart"):
                continue  # a text shown in the message, or a multipart too broken to open
        data = _data(part)
        if data:
            found.append((name, data))
    return tuple(found)


def _leaves(part: Message, top: bool = True) -> Iterator[Message]:
    """The parts that hold content, in order; a message attached to this one is one part, as
    it was forwarded (within MAX_DEPTH, checked before)."""
    attached = not top and part.get_content_maintype() == "message"
    children = part.get_payload()
    if not part.is_multipart() or attached or not isinstance(children, list):
        yield part
        return
    for child in children:
        if isinstance(child, Message):
            yield from _leaves(child, top=False)


def _data(part: Message) -> bytes | None:
    """The part's bytes, decoded from base64 or quoted-printable; an attached message as sent."""
    if not part.is_multipart():
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else None
    inner = part.get_payload(0)
    try:
        return inner.as_bytes(policy=_AS_SENT) if isinstance(inner, Message) else None
    except Exception:  # noqa: BLE001 - a message that cannot be written again is no file
        return None


def _file_name(part: Message) -> str | None:
    """The name the sender gave the file, decoded (RFC 2231, encoded words), else None."""
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a malformed parameter is no reason to lose the file
        return None
    if not name:
        return None
    # Raw 8-bit names come as surrogates: they are UTF-8 (RFC 6532).
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return printable(name, multiline=False).strip() or None


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: read as UTF-8, marking what fails
        return payload.decode("utf-8", errors="replace")


class _TextOfHtml(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
