"""config: YAML + environment → validated settings; every problem names file and key."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import compile_settings_rules
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
_DB = "database: sqlite:///x.db"


def _write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads_with_env_and_defaults(tmp_path: Path) -> None:
    """Env references are expanded, relative feed paths resolve beside the config, defaults apply."""
    settings = load_settings(_write(tmp_path, GOOD), env={"MAIL_URL": "mailto://a@b.example"})
    assert settings.database == f"sqlite:///{tmp_path / 'x.db'}"  # beside the config, from any cwd
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
        ("rules: []\n", "rules", "no rules: write at least one"),
        (
            GOOD.replace("  - name: relos\n    query: RELOS", "  - query: RELOS"),
            "rules[0].name",
            "required key is missing",
        ),
        (GOOD.replace("interval: 10m", "interval: 0s"), "interval", "must be more than 0"),
        (GOOD.replace("- name: relos", "- name: 'relos rule'"), "rules[0].name", "not a usable rule name"),
        (GOOD.replace(_DB, "database: ''"), "database", "is empty (an environment variable that is not"),
        (GOOD.replace(_DB, "database: mysql://x/y"), "database", "'mysql' databases are not supported"),
        (GOOD.replace(_DB, "database: a.db"), "database", "is not a database URL"),
        (GOOD + "dedup: {window: 0s}\n", "dedup.window", "must be more than 0"),
        (GOOD + "retention: 1d\n", "retention", "must be at least dedup.window (3d here)"),
        (GOOD + "[a, b]: 1\n", None, "a key must be a plain value"),
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
    """Broken YAML says where it broke: file:line, as editors open it, then the column."""
    path = _write(tmp_path, "feeds:\n  - name: [unclosed\nrules: x\n")
    with pytest.raises(ConfigError, match=rf"^config: {path}:3: column \d+: invalid YAML"):
        load_settings(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    """A config that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("value", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1.5h", 5400), (0, 0)]
)
def test_durations(value: object, seconds: float) -> None:
    """Durations take s/m/h/d units."""
    assert parse_duration(value).total_seconds() == seconds


def test_a_duration_without_its_unit_is_refused(tmp_path: Path) -> None:
    """`interval: 15` used to mean 15 seconds, polling every outlet four times a minute, and
    `retention: 300` five minutes of history: a number needs its unit."""
    path = _write(tmp_path, GOOD.replace("interval: 10m", "interval: 15"))
    with pytest.raises(ConfigError, match=r"interval: 15 needs a unit: 15s, 15m, 15h or 15d") as info:
        load_settings(path, env={})
    assert (info.value.file, info.value.key) == (str(path), "interval")


def test_every_problem_is_listed_with_a_hint_for_a_misspelt_key(tmp_path: Path) -> None:
    """``ulr:`` for ``url:`` is two problems, and the first alone ("url is missing") would hide
    the cause: every problem is listed, with its key and line (``file:line``, which editors
    open), and the unknown key gets a suggestion. A missing key is placed at its mapping."""
    path = _write(tmp_path, GOOD.replace("    url: https://herald.example/rss", "    ulr: https://herald.example/rss"))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert (info.value.key, info.value.line) == ("feeds[0].url", 5), "the feed's '- name: Herald' line"
    assert str(info.value).startswith(f"config: {path}:5: feeds[0].url: required key is missing")
    assert f"{path}:6: feeds[0].ulr: unknown key 'ulr' (did you mean 'url'?)" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("${HERALD_FEED}", "feeds[0].url: the URL is empty (an unset environment variable?)"),
        ("127.0.0.1:8701/rss.xml", "looks like a host and port without a scheme: write http://127.0.0.1:8701/rss.xml"),
        ("${HERALD_FEED", "feeds[0].url: '${HERALD_FEED': '${' without its closing '}' (write ${VAR})"),
    ],
)
def test_feed_urls_that_could_only_fail_at_poll_time_are_refused(
    tmp_path: Path, url: str, message: str
) -> None:
    """An unset variable, a host:port without http:// (read as a file name) and an unclosed
    ${ are found when the config loads, not at the first poll."""
    path = _write(tmp_path, GOOD.replace("https://herald.example/rss", url))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"MAIL_URL": "mailto://a@b.example"})
    assert message in str(info.value)


def test_a_single_value_where_a_list_belongs_says_so(tmp_path: Path) -> None:
    """``rules: relos`` for ``rules: [relos]`` gets plain words, not pydantic's "valid tuple"."""
    path = _write(tmp_path, GOOD.replace("    rules: [relos]", "    rules: relos"))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"MAIL_URL": "mailto://a@b.example"})
    assert "notifications[0].rules: should be a list, e.g. [a, b], not 'relos'" in str(info.value)


def test_a_key_in_the_wrong_place_says_where_it_belongs(tmp_path: Path) -> None:
    """``timezone`` at the top level is a real key written in the wrong place: the message says
    where it goes (it used to suggest "did you mean 'timezone'?")."""
    path = _write(tmp_path, GOOD + "timezone: Asia/Kolkata\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert (
        f"{path}:19: timezone: 'timezone' is not a key here; it belongs in a notification target"
        " (notifications:)"
    ) in str(info.value)


def test_a_key_written_twice_is_an_error(tmp_path: Path) -> None:
    """Plain YAML keeps the last of two equal keys; a config must not silently do so."""
    path = _write(tmp_path, GOOD + "database: sqlite:///b.db\n")
    with pytest.raises(ConfigError, match=r":\d+: column 1: invalid YAML: key 'database' written twice"):
        load_settings(path, env={})


def test_errors_in_an_included_file_name_that_file_and_its_own_index(tmp_path: Path) -> None:
    """A rule or term list from an ``include:``d file is reported where it is written."""
    rules = "rules:\n  - name: fine\n    query: x\n  - name: 'bad name'\n    query: y\n"
    included = _write(tmp_path, rules, "r.yaml")
    path = _write(tmp_path, GOOD + "include: [r.yaml]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert (info.value.file, info.value.key) == (str(included), "rules[1].name")
    _write(tmp_path, "rules:\n  - name: fine\n    query: x AND (y\n", "r.yaml")
    settings = load_settings(path, env={})
    with pytest.raises(ConfigError) as compiled:
        compile_settings_rules(settings)
    assert (compiled.value.file, compiled.value.key) == (str(included), "rules[0].query")
    assert f"{included}:3: rules[0].query: rule 'fine': position 6" in str(compiled.value)


def test_a_duplicated_rule_name_is_reported_where_the_second_is_written(tmp_path: Path) -> None:
    """Two rules of one name: the error names the file and index of the second, which may be
    an included file, not the main config at an index into the merged list, and where the
    first one is."""
    rules = "rules:\n  - name: other\n    query: x\n  - name: relos\n    query: y\n"
    included = _write(tmp_path, rules, "r.yaml")
    path = _write(tmp_path, GOOD + "include: [r.yaml]\n")
    with pytest.raises(ConfigError, match="duplicate name 'relos'") as info:
        load_settings(path, env={})
    assert (info.value.file, info.value.key, info.value.line) == (str(included), "rules[1].name", 4)
    assert f"(also at {path}:11: rules[0].name)" in str(info.value), "and where the first one is"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("-Pakistan", "cannot exclude"),
        ("Bharat OR Hindustan", "operators"),
        ("NOT India", "operators"),
        ("Bharat NEAR/2 Mata", "operators"),
        ("title:Bharat", "a field goes in the rule"),
        ('"logistics pact"~3', "proximity"),
        ('"logistics pact"', "without quotes"),
        ("@india_names", "another list"),
        ("(Bharat", "parentheses"),
    ],
)
def test_a_term_list_entry_written_like_a_query_is_refused(tmp_path: Path, entry: str, why: str) -> None:
    """An entry is a word or phrase searched for as written: query syntax in one would silently
    search for the wrong words ("-Pakistan" finds Pakistan), so the config does not load."""
    lists = f"term_lists:\n  india: [India, {entry!r}, Bharat]\n"
    included = _write(tmp_path, lists, "lists.yaml")
    path = _write(tmp_path, GOOD + "include: [lists.yaml]\n")
    with pytest.raises(ConfigError, match=re.escape(why)) as info:
        load_settings(path, env={})
    assert (info.value.file, info.value.key) == (str(included), "term_lists.india[1]")
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(
    "entry", ["=INS Vikramaditya", "S-400", "logist*", "Hindustan Aeronautics (HAL)", "or", "India–Russia"]
)
def test_term_list_entries_that_are_words_and_phrases_load(tmp_path: Path, entry: str) -> None:
    path = _write(tmp_path, GOOD + f"term_lists:\n  x: [{entry!r}]\n")
    assert load_settings(path, env={}).term_lists["x"] == (entry,)


def test_one_feed_url_under_two_names_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("url: samples/feed.xml", "url: https://herald.example/rss"))
    with pytest.raises(ConfigError, match="is already the URL of feed 'Herald'") as info:
        load_settings(path, env={})
    assert info.value.key == "feeds[1].url"


def test_a_missing_include_says_who_included_it(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "include: [nope.yaml]\n")
    expected = rf"nope.yaml: cannot read: .* \(included from {re.escape(str(path))}\)"
    with pytest.raises(ConfigError, match=expected):
        load_settings(path, env={})


def test_a_relative_sqlite_file_lives_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from any directory (cron runs from $HOME), the same database is used: a second,
    empty one would alert every recent story again. The environment override is taken as is."""
    path = _write(tmp_path, GOOD.replace(_DB, "database: sqlite:///state/m.db?timeout=5"))
    monkeypatch.chdir("/")
    assert load_settings(path, env={}).database == f"sqlite:///{tmp_path / 'state' / 'm.db'}?timeout=5"
    default = load_settings(_write(tmp_path, GOOD.replace(_DB, ""), "other.yaml"), env={})
    assert default.database == f"sqlite:///{tmp_path / 'monitor.db'}"
    assert load_settings(path, env={"MONITOR_DATABASE_URL": "sqlite:///x.db"}).database == "sqlite:///x.db"


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    """Refusing duplicate keys must not refuse YAML's own merge key (``<<: *anchor``)."""
    anchored = (
        "feeds:\n  - &base {name: Base, url: https://base.example/rss, interval: 5m}\n"
        "  - {<<: *base, name: Copy, url: https://copy.example/rss}\n"
    )
    text = GOOD.replace("feeds:\n", anchored, 1)
    settings = load_settings(_write(tmp_path, text), env={})
    copy = next(f for f in settings.feeds if f.name == "Copy")
    assert copy.interval == timedelta(minutes=5)


def test_other_sqlite_url_forms(tmp_path: Path) -> None:
    """A driver-qualified SQLite URL is placed beside the config too; a file: URI is left as it
    is (its path is the URI's business); memory databases have no file."""
    for url, expected in [
        ("sqlite+pysqlite:///m.db", f"sqlite+pysqlite:///{tmp_path / 'm.db'}"),
        ("sqlite:///file:m.db?mode=ro&uri=true", "sqlite:///file:m.db?mode=ro&uri=true"),
        ("sqlite://", "sqlite://"),
    ]:
        path = _write(tmp_path, GOOD.replace(_DB, f"database: '{url}'"))
        assert load_settings(path, env={}).database == expected


def test_a_database_left_in_the_working_directory_is_pointed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Relative SQLite files used to be relative to the working directory. An install that ran
    from there is told where its database now goes, instead of silently starting afresh (and
    alerting the last days' stories again)."""
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "x.db").write_bytes(b"")
    (tmp_path / "conf").mkdir()
    path = _write(tmp_path / "conf", GOOD)
    monkeypatch.chdir(tmp_path / "here")
    load_settings(path, env={})
    assert f"database: {tmp_path / 'here' / 'x.db'} is not used" in caplog.text
    assert f"beside the config, {tmp_path / 'conf' / 'x.db'}; move it there" in caplog.text


def test_compile_errors_point_at_the_line_at_fault(tmp_path: Path) -> None:
    """A query written over several lines (a ``|`` or ``>`` block) is reported at the line at
    fault, not at its key; a bad term list entry at the entry (not the rule using it); a URL
    apprise cannot use at its line."""
    rules = """rules:
  - name: block
    query: |
      RELOS
      AND (India
      OR Russia
"""
    head = GOOD.split("rules:", maxsplit=1)[0]
    path = _write(tmp_path, head + rules)
    with pytest.raises(ConfigError) as block:
        compile_settings_rules(load_settings(path, env={}))
    at = _line_of(path, "AND (India")
    assert f"{path}:{at}: rules[0].query: rule 'block': position 10 (line 2 of the query)" in str(block.value)
    folded = rules.replace("|", ">-").replace("AND (India", "AND (India)").replace("OR Russia", "OR @rusia")
    path = _write(tmp_path, head + "term_lists:\n  russia: [Russia]\n" + folded)
    with pytest.raises(ConfigError) as unknown:
        compile_settings_rules(load_settings(path, env={}))
    assert f"{path}:{_line_of(path, '@rusia')}: rules[0].query: rule 'block': position" in str(unknown.value)
    path = _write(tmp_path, GOOD + "term_lists:\n  russia:\n    - Russia\n    - Мос*кв\n")
    path.write_text(path.read_text(encoding="utf-8").replace("query: RELOS", "query: RELOS OR @russia"))
    with pytest.raises(ConfigError) as entry:
        compile_settings_rules(load_settings(path, env={}))
    assert (entry.value.key, entry.value.line) == ("term_lists.russia[1]", _line_of(path, "Мос*кв"))
    assert "'Мос*кв': wildcards are only supported at the end of a word" in str(entry.value)
    assert "(used by rule 'relos')" in str(entry.value)


def _line_of(path: Path, text: str) -> int:
    """The number of the one line of ``path`` holding ``text``."""
    (number,) = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line]
    return number
