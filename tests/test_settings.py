"""Settings from the example TOML file, the environment, `.env` and flags, and their errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from newsroom_feed.cli import main
from newsroom_feed.errors import SettingsError
from newsroom_feed.settings import Settings, load_settings

EXAMPLE = Path(__file__).parents[1] / "config" / "newsroom.example.toml"


def _dump(settings: Settings) -> dict[str, object]:
    return settings.model_dump(exclude={"config"})


def _sections(text: str) -> dict[str, str]:
    """The example file split by ``[section]`` headers; top-level keys under ``""``."""
    sections: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        header = re.match(r"^\[([\w.]+)\]\s*$", line)
        if header:
            name = header.group(1)
            continue
        sections[name] = sections.get(name, "") + line + "\n"
    return sections


def test_example_config_loads_to_exactly_the_defaults() -> None:
    assert _dump(load_settings(config=EXAMPLE)) == _dump(Settings())


def test_every_setting_is_documented_in_the_example_config() -> None:
    """A setting added to settings.py without a line in the example file fails here, by name."""
    sections = _sections(EXAMPLE.read_text(encoding="utf-8"))
    missing = []
    for name, info in Settings.model_fields.items():
        sub_model = info.annotation
        if isinstance(sub_model, type) and issubclass(sub_model, BaseModel):
            for sub_name, sub_info in sub_model.model_fields.items():
                nested = sub_info.annotation
                if isinstance(nested, type) and issubclass(nested, BaseModel):
                    # A section inside a section: [bounces.imap]
                    for leaf in nested.model_fields:
                        if not re.search(
                            rf"^(# )?{leaf} = ", sections.get(f"{name}.{sub_name}", ""), re.MULTILINE
                        ):
                            missing.append(f"[{name}.{sub_name}] {leaf}")
                elif not re.search(rf"^(# )?{sub_name} = ", sections.get(name, ""), re.MULTILINE):
                    missing.append(f"[{name}] {sub_name}")
        elif not re.search(rf"^(# )?{name} = ", sections[""], re.MULTILINE):
            missing.append(name)
    assert not missing, f"settings missing from {EXAMPLE.name}: {', '.join(missing)}"


def test_environment_overrides_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "newsroom.toml"
    config.write_text('base_url = "https://toml.example.pl"\n[smtp]\nport = 2525\nhost = "relay"\n')
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", "2626")
    settings = load_settings(config=config)
    assert settings.smtp.port == 2626
    assert settings.smtp.host == "relay"
    assert settings.base_url == "https://toml.example.pl"


def test_newsroom_config_variable_names_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "newsroom.toml"
    config.write_text("[feed]\nitems = 7\n")
    monkeypatch.setenv("NEWSROOM_CONFIG", str(config))
    assert load_settings().feed.items == 7


def test_dotenv_sits_between_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "newsroom.toml"
    config.write_text('timezone = "Europe/London"\nlog_level = "debug"\n')
    (tmp_path / ".env").write_text("NEWSROOM_TIMEZONE=Europe/Berlin\nNEWSROOM_LOG_LEVEL=error\n")
    monkeypatch.setenv("NEWSROOM_LOG_LEVEL", "warning")
    settings = load_settings(config=config)
    assert settings.timezone == "Europe/Berlin"
    assert settings.log_level == "warning"


def test_config_flag_points_the_cli_at_the_toml_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "newsroom.toml"
    config.write_text('database = "elsewhere/store.db"\npublic_dir = "elsewhere/public"\n')
    assert main(["--config", str(config), "init"]) == 0
    assert (tmp_path / "elsewhere" / "store.db").is_file()
    assert "elsewhere/store.db" in capsys.readouterr().err


def test_database_flag_overrides_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSROOM_DATABASE", str(tmp_path / "env.db"))
    assert main(["--database", str(tmp_path / "flag.db"), "init"]) == 0
    assert (tmp_path / "flag.db").is_file()
    assert not (tmp_path / "env.db").exists()


def test_wrong_environment_value_names_the_setting_and_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", "70000")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("NEWSROOM_SMTP__PORT: ")
    assert "65535" in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "name", "reason"),
    [
        ('[smtp]\nport = "many"\n', "NEWSROOM_SMTP__PORT", "integer"),
        ('[smtp]\nsecurity = "ssl"\n', "NEWSROOM_SMTP__SECURITY", "'starttls'"),
        ('[digest]\ndaily_at = "8 rano"\n', "NEWSROOM_DIGEST__DAILY_AT", "HH:MM"),
        ('timezone = "Europe/Warszawa"\n', "NEWSROOM_TIMEZONE", "IANA time zone"),
        ('base_url = "prasa.example.pl"\n', "NEWSROOM_BASE_URL", "absolute http(s) URL"),
        ('[websub]\nhubs = ["ftp://hub"]\n', "NEWSROOM_WEBSUB__HUBS", "not an http(s) URL"),
        ("colour = true\n", "NEWSROOM_COLOUR", "Extra inputs are not permitted"),
    ],
)
def test_wrong_toml_value_fails_with_its_name_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, name: str, reason: str
) -> None:
    config = tmp_path / "newsroom.toml"
    config.write_text(toml)
    assert main(["--config", str(config), "init"]) == 2
    error = capsys.readouterr().err
    assert f"{name}: " in error
    assert reason in error
    assert not (tmp_path / "var").exists(), "nothing is created when a setting is wrong"


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "release", "list"]) == 2
    assert "no such TOML file" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_exits_2_on_a_wrong_setting(tmp_path: Path) -> None:
    """The installed `newsroom-feed` script, in a real process, maps a bad setting to exit code 2."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).parent / "newsroom-feed"
    env = {**os.environ, "NEWSROOM_SMTP__PORT": "not-a-port"}
    done = subprocess.run(
        [str(script), "init"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "NEWSROOM_SMTP__PORT: " in done.stderr
