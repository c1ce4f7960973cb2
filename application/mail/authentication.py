"""Whether a mail server the desk trusts vouches for an email's sender (RFC 8601; P6.1, P6.2).

The desk checks no signature itself. It believes the Authentication-Results header of the
mail servers named in SUPPORTDESK_MAIL_TRUSTED_AUTHSERV (by authserv-id), which vouches for
the sender when it says
- dmarc=pass for the From domain (header.from), or
- dkim=pass for a signature by the From domain itself (header.d, else header.i), or
- spf=pass for an envelope sender in the From domain itself (smtp.mailfrom).
DKIM and SPF count only for exactly the From domain: relaxed alignment with a parent domain
needs the public suffix list, and is what the server's dmarc=pass reports.

Anyone can write Authentication-Results into the mail they send, naming any server. Each
server adds its header above those it received, so only the topmost header with a trusted
authserv-id is read: those below it may be the sender's. The trusted server must therefore be
the one the desk receives mail from (`supportdesk smtpd` takes mail only from
SUPPORTDESK_SMTPD_ALLOWED_CLIENTS), and should remove incoming headers that carry its own id
(RFC 8601, section 5). With no trusted server (the embedded default), no sender is vouched for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

# After comments are removed: `method[/version]=result`, then `reason=…` and `ptype.property=…`.
_VALUE = r'"(?:[^"\\]|\\.)*"|[^\s";=]+'
_PAIR = re.compile(rf"\s*(?P<key>[A-Za-z0-9][\w./-]*)\s*=\s*(?P<value>{_VALUE})\s*")
_TOKEN = re.compile(rf"\s*(?P<value>{_VALUE})")


@dataclass(frozen=True)
class MethodResult:
    """One method's result in the header, such as `dkim=pass header.d=example.org`."""

    method: str
    result: str
    properties: Mapping[str, str]


def vouched_for(headers: Sequence[str], trusted: Collection[str], domain: str) -> bool:
    """Whether the topmost header of a trusted server vouches for the From `domain` (ASCII)."""
    trusted_ids = {server.casefold() for server in trusted}
    for header in headers:  # topmost first
        authserv, _, results = header.partition(";")
        if _authserv_id(authserv) in trusted_ids:
            return any(_vouches(result, domain.casefold()) for result in _method_results(results))
    return False


def _method_results(text: str) -> list[MethodResult]:
    """The results a header states after its authserv-id; what cannot be read states nothing."""
    plain = _without_comments(text)
    if plain is None:
        return []
    return [result for part in _outside_quotes(plain, ";") if (result := _result(part))]


def _vouches(result: MethodResult, domain: str) -> bool:
    if result.result != "pass":
        return False
    properties = result.properties
    match result.method:
        case "dmarc":
            vouched = properties.get("header.from")
        case "dkim":
            vouched = properties.get("header.d") or properties.get("header.i")
        case "spf":
            vouched = properties.get("smtp.mailfrom")
        case _:
            return False
    return _domain_of(vouched) == domain


def _domain_of(value: str | None) -> str | None:
    """The domain of `example.org`, `@example.org` or `user@example.org`, in ASCII."""
    domain = (value or "").rpartition("@")[2].rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii") if domain else None
    except UnicodeError:
        return None


def _authserv_id(text: str) -> str | None:
    plain = _without_comments(text)
    token = _TOKEN.match(plain or "")
    return _unquoted(token["value"]).casefold() if token else None


def _result(text: str) -> MethodResult | None:
    """One `method=result property=value …`; None unless every word of it can be read."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        pair = _PAIR.match(text, position)
        if pair is None:
            return None
        pairs.append((pair["key"].lower(), _unquoted(pair["value"])))
        position = pair.end()
    if not pairs or len({key for key, _ in pairs}) != len(pairs):
        return None  # nothing, or a property stated twice: which one would count?
    (method, result), *properties = pairs
    return MethodResult(method.partition("/")[0], result.lower(), dict(properties))


def _without_comments(text: str) -> str | None:
    """The text with its (nested) comments replaced by spaces; None if it is unbalanced."""
    kept: list[str] = []
    depth, quoted, escaped = 0, False, False
    for character in text:
        if escaped:
            escaped = False
        elif character == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = character != '"'
        elif character == '"' and not depth:
            quoted = True
        elif character in "()":
            if character == ")" and not depth:
                return None
            depth += 1 if character == "(" else -1
            if not depth:
                kept.append(" ")  # a comment separates words as a space does
            continue
        if not depth:
            kept.append(character)
    return None if depth or quoted or escaped else "".join(kept)


def _outside_quotes(text: str, separator: str) -> Iterator[str]:
    """The parts of `text` between separators that are not inside a quoted string."""
    start, quoted, escaped = 0, False, False
    for index, character in enumerate(text):
        if escaped:
            escaped = False
        elif character == "\\" and quoted:
            escaped = True
        elif character == '"':
            quoted = not quoted
        elif character == separator and not quoted:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
