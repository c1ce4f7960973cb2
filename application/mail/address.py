"""The sender of an inbound email, read strictly, and addresses as logs name them (P6.1, P7.3).

Mail is attributed to a requester by its sender's address, so that address must be the one
the sending domain's authentication (DMARC) covers: the From field, with exactly one mailbox
written plainly. Python's parser is lenient exactly there: it reads
`learner@example.org <evil@example.net>` as the first address, and decodes encoded words
inside an address, so that `learner@=?utf-8?q?example.org?=` reads as learner@example.org
while DMARC checked something else. The address in angle brackets is the one DMARC and mail
programs take, so a name written as an address (`learner@example.org <evil@example.net>`, which
some mail programs send) is dropped and the bracketed address read; any other unclear sender
is refused. Defects of the name alone (a badly encoded word) are no ambiguity. The address is
then normalised as the web form normalises it, and refused when a label of its domain mixes
scripts (a Cyrillic `а` in `exаmple.org` looks like the requester's domain but is another one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.errors import (
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    InvalidBase64PaddingDefect,
    InvalidHeaderDefect,
    MessageDefect,
    NonASCIILocalPartDefect,
    NonPrintableDefect,
)
from email.headerregistry import Address

import email_validator

from domain.text import domain_mixes_scripts, printable

# An address in angle brackets is the last one in the field; a bare address may be followed
# by an old-style comment.
_ANGLE_ADDRESS = re.compile(r"<(?P<address>[^<>]*)>\s*(?:\([^()]*\)\s*)?$")
_BARE_ADDRESS = re.compile(r"^\s*(?P<address>[^\s<>()]+)\s*(?:\([^()]*\)\s*)?$")
# A name that is an address, unquoted, before the address in brackets.
_ADDRESS_AS_NAME = re.compile(r'^[^<>",;:()\[\]]*@[^<>",;:()\[\]]*<(?P<address>[^<>\s]+)>\s*$')


class SenderRefused(ValueError):
    """The From field does not name one plain address that mail can be attributed to."""


@dataclass(frozen=True)
class Sender:
    """Who an email says it is from."""

    address: str
    """Normalised as the web form normalises addresses."""
    domain: str
    """The address's domain in ASCII (IDNA), as authentication results name it."""
    name: str | None


def read_sender(fields: Sequence[str]) -> Sender:
    """The sender the From field names, from its raw value(s); SenderRefused if it is unclear."""
    if not fields:
        raise SenderRefused("the message names no sender (From)")
    if len(fields) > 1:
        raise SenderRefused("the message has several From fields")
    try:
        mailbox = _one_mailbox(fields[0])
    except SenderRefused:
        as_name = _ADDRESS_AS_NAME.match(fields[0])
        if as_name is None:
            raise
        mailbox = _one_mailbox(f"<{as_name['address']}>")
    written = _ANGLE_ADDRESS.search(fields[0]) or _BARE_ADDRESS.match(fields[0])
    if written is None or written["address"] != mailbox.addr_spec or "=?" in mailbox.addr_spec:
        raise SenderRefused("the sender's address (From) must be written plainly")
    try:
        checked = email_validator.validate_email(mailbox.addr_spec, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise SenderRefused(f"the sender's address (From) is not valid: {error}") from None
    if domain_mixes_scripts(checked.domain):
        raise SenderRefused("the sender's domain (From) mixes letters of different scripts")
    return Sender(str(checked.normalized), str(checked.ascii_domain), _name(mailbox.display_name))


_HARMLESS_DEFECTS = (
    NonPrintableDefect,
    InvalidBase64PaddingDefect,
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    NonASCIILocalPartDefect,  # RFC 6532 allows it; the validator below checks the address
)


def _harmless(defect: MessageDefect) -> bool:
    """Whether a defect concerns only how the name is encoded (old Outlook quotes encoded
    words, and glues them to the next word)."""
    return isinstance(defect, _HARMLESS_DEFECTS) or (
        isinstance(defect, InvalidHeaderDefect) and "encoded word" in str(defect).replace("-", " ")
    )


def _one_mailbox(field: str) -> Address:
    try:
        header = policy.default.header_factory("From", field)
        groups, defects = header.groups, header.defects
    except Exception as error:  # noqa: BLE001 - the parser raises on some malformed fields
        raise SenderRefused(f"the sender (From) cannot be read: {error}") from None
    # Controls are no ambiguity: the name loses them, and an address with one is invalid.
    # Nor is a badly encoded name (mail programs write some): the address is still checked
    # below against the one written plainly.
    ambiguous = [d for d in defects if not _harmless(d)]
    if ambiguous or len(groups) != 1 or len(groups[0].addresses) != 1:
        raise SenderRefused("the sender (From) must be exactly one mailbox")
    if groups[0].display_name is not None:
        raise SenderRefused("the sender (From) must be a mailbox, not a group")
    mailbox: Address = groups[0].addresses[0]
    return mailbox


def _name(display_name: str) -> str | None:
    # A name that holds an address would show agents an address the mail is not from.
    name = " ".join(printable(display_name, multiline=False).split())
    return name if name and "@" not in name else None


def address_tag(address: str) -> str:
    """A stable hash naming a mailbox in logs and counts, so that they never carry the address.

    Case, and a `+tag` after the local part, do not make another mailbox.
    """
    local, _, domain = address.strip().casefold().rpartition("@")
    mailbox = f"{local.partition('+')[0]}@{domain}"
    return "mailbox-" + hashlib.sha256(mailbox.encode("utf-8")).hexdigest()[:16]
