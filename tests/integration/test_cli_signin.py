"""`supportdesk users passwd` and `users totp`: the console's password and second factor from
the command line, as an operator scripts them (the password on standard input)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from application.signin import SecondFactorNeeded, SignInRefused
from application.users import Role
from interfaces.cli import cli


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'desk.db'}")
    monkeypatch.setenv("SUPPORTDESK_DATA_DIR", str(tmp_path))
    container = bootstrap(Settings.from_env())
    container.users.add("sara", Role.AGENT)
    yield container
    container.close()


def test_the_password_is_read_from_the_first_line_of_standard_input(desk: Container) -> None:
    given = CliRunner().invoke(cli, ["users", "passwd", "sara"], input="long enough secret\nx\n")
    assert (given.exit_code, given.output.strip()) == (0, "password set for sara")
    assert desk.signin.sign_in("sara", "long enough secret", client="127.0.0.1")
    with pytest.raises(SignInRefused):
        desk.signin.sign_in("sara", "long enough secret\nx", client="127.0.0.1")


@pytest.mark.parametrize(
    ("name", "typed", "said"),
    [("sara", "short\n", "10 to"), ("nobody", "long enough secret\n", "nobody")],
)
def test_a_short_password_or_an_unknown_user_is_refused_with_exit_2(
    desk: Container, name: str, typed: str, said: str
) -> None:
    given = CliRunner().invoke(cli, ["users", "passwd", name], input=typed)
    assert given.exit_code == 2
    assert said in given.output
    with pytest.raises(SignInRefused):
        desk.signin.sign_in(name, typed.strip(), client="127.0.0.1")


def test_a_second_factor_is_printed_as_an_otpauth_uri_and_can_be_removed(
    desk: Container,
) -> None:
    runner = CliRunner()
    set_password = runner.invoke(cli, ["users", "passwd", "sara"], input="long enough secret\n")
    assert set_password.exit_code == 0
    given = runner.invoke(cli, ["users", "totp", "sara"])
    assert given.exit_code == 0 and given.output.startswith("otpauth://totp/")
    with pytest.raises(SecondFactorNeeded):
        desk.signin.sign_in("sara", "long enough secret", client="127.0.0.1")
    code = pyotp.parse_uri(given.output.strip()).now()
    assert desk.signin.sign_in("sara", "long enough secret", client="127.0.0.1", code=code)

    removed = runner.invoke(cli, ["users", "totp", "sara", "--off"])
    assert (removed.exit_code, removed.output.strip()) == (0, "second factor removed for sara")
    assert desk.signin.sign_in("sara", "long enough secret", client="127.0.0.1")
