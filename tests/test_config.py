"""config: YAML + environment → validated settings; every problem names file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_settings, parse_duration
from monitor.errors import ConfigError

GOOD = """
database: sqlite:///x.db
interval: 10m
feeds:
  - name: Herald
    url: https://herald.example/rss
  - name: Local
    url: samples/feed.xml
    interval: 1h
rules:
  - name: relos
    query: RELOS
notifications:
  - name: email
    url: ${MAIL_URL}
    rules: [relos]
  - name: slack
    url: ${SLACK_URL:-}
"""


def _write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads_with_env_and_defaults(tmp_path: Path) -> None:
    """Env references are expanded, relative feed paths resolve beside the config, defaults apply."""
    settings = load_settings(_write(tmp_path, GOOD), env={"MAIL_URL": "mailto://a@b.example"})
    assert settings.database == "sqlite:///x.db"
    assert settings.feed_interval(settings.feeds[0]) == timedelta(minutes=10)
    assert settings.feed_interval(settings.feeds[1]) == timedelta(hours=1)
    assert settings.feeds[1].url == str(tmp_path / "samples" / "feed.xml")
    assert settings.notifications[0].url == "mailto://a@b.example"
    assert settings.notifications[1].url == ""
    assert settings.max_age == timedelta(days=2)


def test_database_env_overrides(tmp_path: Path) -> None:
    """$MONITOR_DATABASE_URL wins over the file's database key."""
    settings = load_settings(_write(tmp_path, GOOD), env={"MONITOR_DATABASE_URL": "postgresql://h/db"})
    assert settings.database == "postgresql://h/db"


def test_include_merges_rules_and_term_lists(tmp_path: Path) -> None:
    """Included files add term lists and rules to the including config."""
    _write(
        tmp_path,
        "term_lists:\n  india: [India, Bharat]\nrules:\n  - name: extra\n    query: '@india'\n",
        "rules.yaml",
    )
    settings = load_settings(_write(tmp_path, GOOD + "include: [rules.yaml]\n"), env={})
    assert [r.name for r in settings.rules] == ["relos", "extra"]
    assert settings.term_lists == {"india": ("India", "Bharat")}


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (GOOD.replace("interval: 10m", "intervall: 10m"), "intervall", "unknown key 'intervall'"),
        (GOOD.replace("    interval: 1h", "    interval: soon"), "feeds[1].interval", "not a duration"),
        (
            GOOD.replace("https://herald.example/rss", "ftp://herald.example/rss"),
            "feeds[0].url",
            "not an http",
        ),
        (GOOD.replace("https://herald.example/rss", "https:///rss"), "feeds[0].url", "has no host"),
        (
            GOOD.replace("    rules: [relos]", "    rules: [relso]"),
            "notifications[0].rules",
            "unknown rule 'relso'",
        ),
        (GOOD.replace("  - name: Local", "  - name: Herald"), "feeds[1].name", "duplicate name"),
        ("feeds: []\n", "rules", "required key is missing"),
        ("rules: []\n", "rules", "at least 1"),
        (
            GOOD.replace("  - name: relos\n    query: RELOS", "  - query: RELOS"),
            "rules[0].name",
            "required key is missing",
        ),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    """Each kind of mistake raises ConfigError whose text names the file, the key and the problem."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_bad_yaml_reports_line_and_column(tmp_path: Path) -> None:
    """Broken YAML says where it broke."""
    path = _write(tmp_path, "feeds:\n  - name: [unclosed\nrules: x\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML"):
        load_settings(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    """A config that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1.5h", 5400)]
)
def test_durations(value: object, seconds: float) -> None:
    """Durations accept bare seconds and s/m/h/d units."""
    assert parse_duration(value).total_seconds() == seconds
