"""Who an inbound email is from: the trusted server's verdict (RFC 8601), a strictly read From,
and the text a sender controls (P6.1, P6.2, P7.1)."""

from __future__ import annotations

import pytest

from application.mail.address import SenderRefused, address_tag, read_sender
from application.mail.authentication import vouched_for
from domain.text import printable

MX = "mx.captainmama.org"
DOMAIN = "example.org"


def vouches(*headers: str, trusted: tuple[str, ...] = (MX,)) -> bool:
    return vouched_for(headers, trusted, DOMAIN)


@pytest.mark.parametrize(
    "header",
    [
        f"{MX}; dmarc=pass header.from=example.org",
        f"{MX}; dmarc=pass (p=reject dis=none) header.from=example.org",
        f"{MX} 1; spf=fail smtp.mailfrom=x@evil.org; dmarc=PASS header.from=Example.ORG",
        f"{MX}; dkim=pass (2048-bit key) header.d=example.org header.s=sel",
        f"{MX}; dkim=pass header.i=@example.org",
        f"{MX}; spf=pass smtp.mailfrom=learner@example.org",
        f"{MX}; spf=pass smtp.mailfrom=example.org",
        f'{MX}; dmarc=pass header.from="example.org"',
        f"{MX.upper()};\r\n dkim/1 = pass header.d=example.org",
        f"(comment) {MX} ; dmarc=pass header.from=example.org",
    ],
)
def test_the_trusted_servers_pass_for_the_from_domain_vouches(header: str) -> None:
    assert vouches(header)


@pytest.mark.parametrize(
    "header",
    [
        f"{MX}; dmarc=fail header.from=example.org",
        f"{MX}; dmarc=pass header.from=evil.org",
        f"{MX}; dmarc=pass",  # which domain passed?
        f"{MX}; dkim=pass header.d=evil.org",
        f"{MX}; dkim=pass header.d=sub.example.org",  # alignment beyond equality is dmarc's
        f"{MX}; spf=pass smtp.helo=example.org",
        f"{MX}; spf=softfail smtp.mailfrom=example.org",
        f"{MX}; none",
        f"{MX}; arc=pass header.from=example.org",
        f"{MX}; dmarc=pass header.from=evil.org header.from=example.org",
        # A result the sender smuggled into a comment or a quoted string states nothing:
        f"{MX}; spf=fail (sender said; dmarc=pass header.from=example.org) smtp.mailfrom=e.org",
        f'{MX}; spf=fail reason="x; dmarc=pass header.from=example.org" smtp.mailfrom=e.org',
        f"{MX}; dmarc=pass header.from=example.org (unclosed",
        f"{MX}; dmarc=passheader.from=example.org",
        "other.example; dmarc=pass header.from=example.org",
    ],
)
def test_anything_else_vouches_for_nothing(header: str) -> None:
    assert not vouches(header)


def test_only_the_topmost_header_of_the_trusted_server_counts() -> None:
    forged_below = f"{MX}; dmarc=pass header.from=example.org"
    assert not vouches(f"{MX}; dmarc=fail header.from=example.org", forged_below)
    assert vouches("relay.internal; none", f"{MX}; dkim=pass header.d=example.org")


def test_with_no_trusted_server_nothing_vouches() -> None:
    assert not vouches(f"{MX}; dmarc=pass header.from=example.org", trusted=())


@pytest.mark.parametrize(
    ("field", "address", "name"),
    [
        ("Sara <sara@example.org>", "sara@example.org", "Sara"),
        ("=?utf-8?b?2LPYp9ix2Kk=?= <sara@example.org>", "sara@example.org", "سارة"),
        ("سارة <sara@example.org>", "sara@example.org", "سارة"),
        ('"Doe, John" <j@example.org>', "j@example.org", "Doe, John"),
        ("<learner@example.org>", "learner@example.org", None),
        ("learner@example.org (old style)", "learner@example.org", None),
        ("LEARNER@Example.ORG", "LEARNER@example.org", None),
        # A name that shows an address is dropped: the mail is from the address in brackets.
        ('"learner@example.org" <evil@evil.org>', "evil@evil.org", None),
        ("=?utf-8?q?learner=40example.org?= <evil@evil.org>", "evil@evil.org", None),
        # Unquoted, as some mail programs write it: the address in brackets is the sender, as
        # DMARC reads it.
        ("learner@example.org <evil@evil.org>", "evil@evil.org", None),
        ("Name@x <evil@evil.org>", "evil@evil.org", None),
        # Defects of the name alone: old Outlook quotes encoded words; Apple Mail pads badly.
        (
            '"=?iso-8859-1?Q?Martina_Jan=DFen?=" <mjansse@example.de>',
            "mjansse@example.de",
            "Martina Janßen",
        ),
        ("=?utf-8?B?eHB0bw?= <dummy@example.com>", "dummy@example.com", "xpto"),
        # RFC 6532: UTF-8 in the local part and the domain, written raw.
        ("Marilù <Marilù.Gioffré@università.it>", "Marilù.Gioffré@università.it", "Marilù"),
        ("Sa\x1bra\x07\u202e <sara@example.org>", "sara@example.org", "Sara"),
    ],
)
def test_a_plain_sender_is_read_with_its_name(field: str, address: str, name: str | None) -> None:
    sender = read_sender([field])
    assert (sender.address, sender.name) == (address, name)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["learner@example.org, evil@evil.org"], "exactly one mailbox"),
        (["=?utf-8?q?learner?=@example.org"], "plainly"),
        (["learner@=?utf-8?q?example.org?="], "plainly"),
        (['"learner@example.org" <learner@=?utf-8?q?example.org?=>'], "plainly"),
        (["alice@example.org)<bob@example.com>"], "exactly one mailbox"),
        (["team: learner@example.org;"], "group"),
        (["a@example.org", "b@example.org"], "several From"),
        ([], "no sender"),
        (["learner@exаmple.org"], "mixes"),  # a Cyrillic а
        (["learner@xn--exmple-4nf.org"], "mixes"),  # the same, as IDNA
        (["x@host.local"], "not valid"),
    ],
)
def test_an_unclear_sender_is_refused(fields: list[str], reason: str) -> None:
    with pytest.raises(SenderRefused, match=reason):
        read_sender(fields)


def test_a_domain_in_one_script_is_kept_and_named_in_ascii() -> None:
    sender = read_sender(["a@مثال.السعودية"])
    assert sender.address == "a@مثال.السعودية"
    assert sender.domain == "xn--mgbh0fb.xn--mgberp4a5d4ar"


def test_controls_and_bidi_overrides_are_removed_and_arabic_marks_kept() -> None:
    text = "a\x1b[31mb\x07\u202ec\u2066d\u2069\u200fه\u061c\n\tz\x00"
    assert printable(text, multiline=True) == "a[31mbcd\u200fه\u061c\n\tz"
    assert printable(text, multiline=False) == "a[31mbcd\u200fه\u061cz"


def test_a_mailbox_tag_hides_the_address_and_ignores_case_and_plus_tags() -> None:
    tag = address_tag("Victim@Example.org")
    assert tag == address_tag("victim+1@example.org") != address_tag("other@example.org")
    assert "victim" not in tag and "example" not in tag
