"""Tokens: issued once, stored only as hashes, checked, revoked."""

from __future__ import annotations

import sqlalchemy as sa

from application.bootstrap import Container
from application.users import Role, users_table


def test_token_authenticates_its_user_and_role(container: Container) -> None:
    token = container.users.add("sara", Role.AGENT)
    principal = container.users.authenticate(token)
    assert principal is not None
    assert (principal.name, principal.role) == ("sara", Role.AGENT)


def test_token_is_stored_only_as_a_hash(container: Container) -> None:
    token = container.users.add("sara", Role.AGENT)
    with container.engine.connect() as connection:
        stored = connection.execute(sa.select(users_table)).all()
    secret = token.split("_", 2)[2]  # the secret itself may contain "_"
    assert all(secret not in str(tuple(row)) for row in stored)


def test_wrong_or_malformed_tokens_are_refused(container: Container) -> None:
    token = container.users.add("sara", Role.AGENT)
    assert container.users.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    for bad in ("", "sd", "sd__x", "bearer", token.replace("sd_", "xx_", 1)):
        assert container.users.authenticate(bad) is None


def test_revoked_tokens_stop_working(container: Container) -> None:
    first = container.users.add("omar", Role.ANALYST)
    second = container.users.add("omar", Role.ANALYST)
    assert container.users.revoke("omar") == 2
    assert container.users.authenticate(first) is None
    assert container.users.authenticate(second) is None
    assert [u.revoked_at is not None for u in container.users.list()] == [True, True]
