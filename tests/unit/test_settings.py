"""Settings from `SUPPORTDESK_*` variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.settings import Settings, SettingsError


def test_the_defaults_are_the_embedded_shape_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/supportdesk.db"
    assert settings.smtp_url == "file:var/outbox"
    assert settings == Settings()


def test_moving_the_data_folder_moves_the_embedded_database_and_outbox() -> None:
    settings = Settings.from_env({"SUPPORTDESK_DATA_DIR": "/srv/desk"})
    assert settings.data_dir == Path("/srv/desk")
    assert settings.database_url == "sqlite:////srv/desk/supportdesk.db"
    assert settings.smtp_url == "file:/srv/desk/outbox"


def test_a_database_url_given_wins_over_the_data_folder() -> None:
    url = "postgresql+psycopg2://desk@db/desk"
    settings = Settings.from_env({"SUPPORTDESK_DATA_DIR": "/srv", "SUPPORTDESK_DATABASE_URL": url})
    assert settings.database_url == url


@pytest.mark.parametrize("value", ["many", "-1"])
def test_a_count_that_is_not_a_whole_number_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env({"SUPPORTDESK_TRUSTED_PROXIES": value})


def test_lists_are_read_without_blanks() -> None:
    settings = Settings.from_env({"SUPPORTDESK_SMTPD_ALLOWED_CLIENTS": " 10.0.0.0/8 ,, ::1 "})
    assert settings.smtpd_allowed_clients == ("10.0.0.0/8", "::1")
