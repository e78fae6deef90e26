"""End to end through the real CLI (subprocesses): local feed server, real SMTP server,
webhook receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.feeds import NOISE_ITEM, RELOS_ITEM, Item, rss
from tests.servers import HTTPServer, Route, SMTPServer, body_text, wait_for

RULES = """
rules:
  - name: relos
    query: RELOS OR "Reciprocal Exchange of Logistic Support"
    description: the India–Russia logistics pact
"""


def monitor(
    config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def write_config(
    tmp_path: Path, db_url: str, feed_url: str, smtp: SMTPServer, hook_port: int, extra: str = ""
) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"""
database: {db_url}
interval: 1s
tick: 1s
full_text: never
delivery:
  tick: 1s
  retry_base: 1s
  send_timeout: 5s   # a send cut off by SIGKILL is retried after 2 x 5 + 10 s
feeds:
  - name: Test Herald
    url: {feed_url}
{RULES}
notifications:
  - name: email
    url: {smtp.url()}
  - name: chat
    url: json://127.0.0.1:{hook_port}/hook
{extra}""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def setup(tmp_path: Path, db_url: str, http_server: HTTPServer, smtp_server: SMTPServer) -> Path:
    http_server.routes["/rss"] = Route(
        rss([RELOS_ITEM, NOISE_ITEM]), headers={"Content-Type": "application/rss+xml"}
    )
    return write_config(tmp_path, db_url, http_server.url("/rss"), smtp_server, http_server.port)


def test_run_once_alerts_a_matching_story_once_by_email_and_webhook(
    setup: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """One matching story → one email and one webhook post; a second run sends nothing new."""
    result = monitor(setup, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "feeds: 1 ok, 0 failed; new stories: 2; matching a rule: 1; notifications: 2 sent, 0 failed"
    )
    (mail,) = smtp_server.messages
    assert "RELOS" in mail["Subject"]
    text = body_text(mail)
    assert "https://herald.example/news/relos-ratified" in text
    assert "relocation" not in text
    (post,) = http_server.posts("/hook")
    assert "Duma ratifies RELOS" in post["message"]
    again = monitor(setup, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert "new stories: 0; matching a rule: 0; notifications: 0 sent, 0 failed" in again.stdout
    assert len(smtp_server.messages) == 1 and len(http_server.posts("/hook")) == 1


def test_run_once_counts_a_story_matching_two_rules_as_one_alert(
    setup: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """The summary counts matching stories (what analysts receive), and the rule hits apart."""
    text = setup.read_text(encoding="utf-8")
    setup.write_text(text.replace(RULES, RULES + "  - name: duma\n    query: Duma\n"), encoding="utf-8")
    result = monitor(setup, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new stories: 2; matching a rule: 1 (2 rule hits); notifications: 2 sent" in result.stdout
    assert len(smtp_server.messages) == 1 and len(http_server.posts("/hook")) == 1


def test_alerts_left_for_a_renamed_target_are_pointed_out_at_start(
    setup: Path, smtp_server: SMTPServer
) -> None:
    """An alert waiting for a target that was since renamed would go dead unseen: the next start
    says how many wait for which name, and what to do."""
    smtp_server.stop()
    assert "1 failed" in monitor(setup, "run", "--once").stdout
    renamed = setup.read_text(encoding="utf-8").replace("- name: email", "- name: mail")
    setup.write_text(renamed, encoding="utf-8")
    again = monitor(setup, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert (
        "outbox: 1 message(s) wait for target 'email', which is not in the config (renamed or removed?)"
        in again.stderr
    )
    assert "give it back its old name until they are sent" in again.stderr


def test_hits_and_feeds_commands_show_what_was_stored(setup: Path) -> None:
    """`monitor hits --format jsonl` lists the hit with its fields; `monitor feeds` the state."""
    assert monitor(setup, "run", "--once").returncode == 0
    out = monitor(setup, "hits", "--format", "jsonl", "--since", "1d")
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    hit = json.loads(line)
    assert hit["url"] == "https://herald.example/news/relos-ratified"
    assert hit["feed"] == "Test Herald" and hit["rules"] == ["relos"]
    assert "RELOS" in hit["matched"] and isinstance(hit["cluster"], str) and hit["cluster"]
    assert hit["published"].endswith("Z")
    assert monitor(setup, "hits", "--rule", "nothing", "--format", "jsonl").stdout == ""
    table = monitor(setup, "hits").stdout
    assert "Duma ratifies RELOS" in table
    feeds = monitor(setup, "feeds").stdout
    assert "Test Herald" in feeds and " 200 " in feeds
    config = setup.read_text(encoding="utf-8")
    setup.write_text(config.replace("name: Test Herald", "name: Herald"), encoding="utf-8")
    renamed = monitor(setup, "feeds").stdout.splitlines()
    (old,) = [row for row in renamed if row.startswith("Test Herald (not in config)")]
    assert " never " in old, "a feed no longer configured is not polled again"
    assert any(row.startswith("Herald ") and "not polled yet" in row for row in renamed)


def test_alert_survives_smtp_outage_and_is_delivered_exactly_once(
    setup: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """With SMTP down the email stays pending (webhook still delivered); it goes out once later."""
    smtp_server.stop()
    down = monitor(setup, "run", "--once")
    assert down.returncode == 0, down.stderr
    assert "notifications: 1 sent, 1 failed" in down.stdout
    assert "email" in down.stderr and "not delivered" in down.stderr
    smtp_server.start()
    up = monitor(setup, "run", "--once")
    assert "notifications: 1 sent, 0 failed" in up.stdout
    third = monitor(setup, "run", "--once")
    assert "notifications: 0 sent, 0 failed" in third.stdout
    assert len(smtp_server.messages) == 1
    assert len(http_server.posts("/hook")) == 1


def test_broken_feed_is_reported_and_others_go_on(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """A feed serving HTML and one answering 500 fail visibly; the good feed still alerts."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]))
    http_server.routes["/html"] = Route(
        b"<html><body>not a feed</body></html>", headers={"Content-Type": "text/html"}
    )
    http_server.routes["/500"] = Route(b"oops", status=500)
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path}/m.db", http_server.url("/rss"), smtp_server, http_server.port
    )
    config.write_text(
        config.read_text().replace(
            "feeds:\n",
            f"""feeds:
  - name: Broken Page
    url: {http_server.url("/html")}
  - name: Failing Server
    url: {http_server.url("/500")}
""",
        )
    )
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "feeds: 1 ok, 2 failed" in result.stdout
    assert "parse: Broken Page:" in result.stderr
    assert "HTTP 500" in result.stderr
    feeds = monitor(config, "feeds").stdout
    assert "HTTP 500" in feeds and "the server sent an HTML page, not a feed" in feeds
    assert len(smtp_server.messages) == 1


def test_first_poll_does_not_alert_old_stories(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """Stories older than max_age on a new feed's first poll are stored but not alerted."""
    old = Item(
        "old-1",
        "RELOS: what the pact means",
        "Explainer",
        "https://herald.example/old",
        age=__import__("datetime").timedelta(days=10),
    )
    http_server.routes["/rss"] = Route(rss([old]))
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path}/m.db", http_server.url("/rss"), smtp_server, http_server.port
    )
    result = monitor(config, "run", "--once")
    assert "matching a rule: 1; notifications: 0 sent" in result.stdout
    assert smtp_server.messages == []
    assert "RELOS: what the pact means" in monitor(config, "hits").stdout


def test_daemon_picks_up_a_new_story_and_stops_cleanly_on_sigterm(
    setup: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """The running daemon alerts a story added while it runs, then exits 0 on SIGTERM."""
    http_server.routes["/rss"] = Route(rss([NOISE_ITEM]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(setup), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: len([r for r in http_server.requests if r.path == "/rss"]) >= 1, 30)
        time.sleep(0.5)
        assert smtp_server.messages == []
        http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
        assert wait_for(lambda: len(smtp_server.messages) == 1, 30), "no alert from the daemon"
        assert wait_for(lambda: len(http_server.posts("/hook")) == 1, 10)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "monitor stopped" in err
    assert len(smtp_server.messages) == 1


BAD_CONFIGS = [
    ("unknown key", "database: {db}\nfeedz: []\n" + RULES, "feedz", "unknown key 'feedz'"),
    (
        "bad URL",
        "database: {db}\nfeeds:\n  - name: x\n    url: gopher://x/\n" + RULES,
        "feeds[0].url",
        "not an http",
    ),
    ("missing rules", "database: {db}\nfeeds: []\n", "rules", "required key is missing"),
    ("bad YAML", "database: {db}\nfeeds: [\n" + RULES, ": column ", "invalid YAML"),
    (
        "bad query",
        "database: {db}\nrules:\n  - name: r\n    query: 'RELOS AND'\n",
        "rules[0].query",
        "position",
    ),
    (
        "bad target URL",
        "database: {db}\n" + RULES + "notifications:\n  - name: n\n    url: 'nope://x'\n",
        "notifications[0].url",
        "nope:// is not a service apprise knows",
    ),
    (
        "target URL with a secret that apprise cannot use",
        "database: {db}\n" + RULES + "notifications:\n  - name: n\n    url: 'slack://s3cr3t-token'\n",
        "notifications[0].url",
        "apprise cannot use this slack:// URL",
    ),
]


@pytest.mark.parametrize(("case", "text", "key", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_malformed_config_exits_2_naming_file_and_key_and_touches_nothing(
    tmp_path: Path, case: str, text: str, key: str, message: str
) -> None:
    """Every malformed config stops `run`, `run --once` and `check` with exit 2 and a clear message."""
    db = tmp_path / "untouched.db"
    config = tmp_path / "bad.yaml"
    config.write_text(text.format(db=f"sqlite:///{db}"), encoding="utf-8")
    for args in (("check",), ("run", "--once"), ("run",)):
        result = monitor(config, *args)
        assert result.returncode == 2, (case, args, result.stderr)
        assert str(config) in result.stderr and key in result.stderr and message in result.stderr
        assert "s3cr3t" not in result.stderr, "a rejected URL's secret was logged"
    assert not db.exists()


def test_check_notes_a_term_list_no_rule_uses(setup: Path) -> None:
    """A list defined but never used is usually a rule that forgot it (or a typo'd @name)."""
    lists = "term_lists:\n  spare: [x]\n  pact: [RELOS]\n"
    text = setup.read_text(encoding="utf-8").replace(RULES, lists + RULES)
    setup.write_text(text.replace("query: RELOS OR", "query: RELOS OR @pact OR"), encoding="utf-8")
    result = monitor(setup, "check")
    assert result.returncode == 0, result.stderr
    assert "note: no rule uses @spare\n" in result.stdout


def test_check_notes_a_target_whose_min_priority_no_rule_reaches(setup: Path) -> None:
    setup.write_text(setup.read_text(encoding="utf-8") + "    min_priority: 5\n", encoding="utf-8")
    result = monitor(setup, "check")
    assert result.returncode == 0, result.stderr
    assert "note: min_priority 5 is above the priority of every rule it takes" in result.stdout


def test_check_notes_an_exclusion_that_applies_to_one_alternative(setup: Path) -> None:
    """`India OR Russia -oil` excludes oil from the Russia alternative only (a Lucene user may
    expect the whole query): check says so, and how to write the other meaning."""
    setup.write_text(setup.read_text(encoding="utf-8").replace("query: RELOS OR", "query: RELOS -oil OR"))
    result = monitor(setup, "check")
    assert result.returncode == 0, result.stderr
    assert "note: in 'RELOS -oil', one alternative of an OR, the exclusion applies to that" in result.stdout


def test_check_prints_what_it_found(setup: Path) -> None:
    """`monitor check` summarises feeds, rules and targets without touching the database."""
    result = monitor(setup, "check")
    assert result.returncode == 0, result.stderr
    assert "feeds: 1 (1 enabled)" in result.stdout
    assert "relos" in result.stdout and "email: mailto://…" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("hits", "--since", "1y"), 2, "argument --since: '1y' is not a duration (use e.g. 30s, 15m"),
        (("backtest", "--rule", "relos", "--since", "7days"), 2, "--since: '7days' is not a duration"),
        (("hits", "--rule", "relso"), 2, "usage: --rule: no rule 'relso' in the config (known: relos)"),
        (("hits", "--limit", "-1"), 2, "argument --limit: '-1': give 1 or more"),
        (("match", "--rule", "relos", "--file", "/no/such"), 2, "usage: --file: cannot read /no/such"),
        (("match", "--query", " ", "--text", "RELOS"), 2, "usage: --query: the query is empty"),
        (("outbox", "retry", "abc"), 2, "argument ids: invalid int value: 'abc'"),
        (("outbox", "list", "5"), 2, "usage: outbox: row IDs and --all-dead go with `monitor outbox retry`"),
        (("outbox", "retry", "999"), 1, "1 row(s) not requeued: no such row"),
        (("notify", "test", "--target", "sms"), 2,
         "usage: --target: unknown notification target 'sms' (known: email, chat)"),
    ],
)
def test_command_line_mistakes_get_a_clear_message_not_a_traceback(
    setup: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = monitor(setup, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_broken_template_is_caught_by_check(setup: Path) -> None:
    """An override template with a syntax error is a config error naming the file and line,
    found by `monitor check` rather than by the first alert that fails to render."""
    templates = setup.parent / "templates"
    templates.mkdir()
    (templates / "alert.md.j2").write_text("{{ rule }}\n{{ story.title }\n", encoding="utf-8")
    result = monitor(setup, "check")
    assert result.returncode == 2
    assert f"{templates / 'alert.md.j2'}: line 2: template syntax: unexpected '}}'" in result.stderr


def test_notify_test_says_why_a_target_failed(tmp_path: Path, smtp_server: SMTPServer) -> None:
    """apprise reports only "Connection error"; the cause (here: credentials given to a mail
    server that takes none) is what a user needs to fix the URL."""
    config = tmp_path / "monitor.yaml"
    url = f"mailto://user:secret@127.0.0.1:{smtp_server.port}?from=a@example.org&to=b@example.org"
    config.write_text(f"{RULES}\nnotifications:\n  - name: mail\n    url: {url}\n", encoding="utf-8")
    result = monitor(config, "notify", "test")
    assert result.returncode == 1
    assert "mail: FAILED: " in result.stdout
    assert "SMTP AUTH extension not supported by server" in result.stdout
    assert "secret" not in result.stdout + result.stderr


def test_notify_test_masks_a_token_the_error_repeats(tmp_path: Path) -> None:
    """A webhook's token sits in its URL's path, which an HTTP error repeats ("Max retries
    exceeded with url: /TOKEN"): it is masked there too, as in the target's URL."""
    from tests.servers import free_port

    config = tmp_path / "monitor.yaml"
    url = f"mmost://127.0.0.1:{free_port()}/abcdefghSECRETTOKEN42"
    config.write_text(f"{RULES}\nnotifications:\n  - name: chat\n    url: {url}\n", encoding="utf-8")
    result = monitor(config, "notify", "test")
    assert result.returncode == 1
    assert "chat: FAILED: " in result.stdout
    assert "****" in result.stdout, "the error's detail is shown, masked"
    assert "SECRETTOKEN42" not in result.stdout + result.stderr


def test_db_prune_forgets_only_what_is_older(setup: Path, smtp_server: SMTPServer) -> None:
    """`monitor db prune` applies the retention now; today's stories and hits stay."""
    assert monitor(setup, "run", "--once").returncode == 0
    result = monitor(setup, "db", "prune", "--older-than", "3d")
    assert result.returncode == 0, result.stderr
    assert "forgot 0 stories first seen and published more than 3d ago" in result.stdout
    too_soon = monitor(setup, "db", "prune", "--older-than", "1d")
    assert too_soon.returncode == 2
    assert "--older-than: 1d is shorter than dedup.window (3d)" in too_soon.stderr
    assert "Duma ratifies RELOS" in monitor(setup, "hits").stdout


def test_check_notes_a_rule_that_needs_none_of_its_words(tmp_path: Path) -> None:
    """`NOT RELOS` (or `site:tass.com` alone) matches nearly every story: legal, rarely meant."""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "rules:\n  - name: r\n    query: NOT RELOS\n  - name: s\n    query: RELOS AND NOT site:tass.com\n",
        encoding="utf-8",
    )
    result = monitor(config, "check")
    assert result.returncode == 0
    assert result.stdout.count("note: it can match a story that has none of its words") == 1
    assert "  - r (priority 0)\n    note: it can match a story that has none of its words" in result.stdout


def test_check_notes_operators_written_in_lower_case(tmp_path: Path) -> None:
    """Lower-case "or" is a word to search for: legal, but rarely meant. `check` says so."""
    config = tmp_path / "monitor.yaml"
    config.write_text("rules:\n  - name: r\n    query: RELOS or LEMOA\n", encoding="utf-8")
    result = monitor(config, "check")
    assert result.returncode == 0
    assert "note: 'or' in lower case is a word to search for, not an operator" in result.stdout


def test_feeds_lists_configured_feeds_before_their_first_poll(setup: Path) -> None:
    """A new install (or a feed just added) shows its feeds as not polled yet, not "(none)"."""
    result = monitor(setup, "feeds")
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("Test Herald")]
    assert row.rstrip().endswith("not polled yet")


def test_check_points_out_a_feed_file_that_is_not_there(tmp_path: Path) -> None:
    """A mistyped local feed path would only fail at the first poll: `check` marks it."""
    (tmp_path / "here.xml").write_bytes(rss([RELOS_ITEM]))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "feeds:\n  - name: Here\n    url: here.xml\n  - name: Gone\n    url: samples/nothere.xml\n"
        "rules:\n  - name: r\n    query: RELOS\n",
        encoding="utf-8",
    )
    result = monitor(config, "check")
    assert result.returncode == 0, result.stderr
    here, gone = (line for line in result.stdout.splitlines() if " every " in line)
    assert "[no such file]" not in here
    assert gone.endswith("[no such file]") and "samples/nothere.xml" in gone


def test_tables_cut_and_pad_by_what_a_terminal_shows(capsys: pytest.CaptureFixture[str]) -> None:
    """A Devanagari headline's vowel signs take no column: the next column still lines up, and a
    long headline is cut to the column's width, quickly however long it is."""
    from monitor.commands.common import table
    from monitor.terminal import display_width

    hindi = "भारत-रूस रक्षा समझौता पर हस्ताक्षर " * 200
    table(("title", "feed"), [(hindi, "a"), ("RELOS ratified", "b")], widths=(30, 5))
    lines = capsys.readouterr().out.splitlines()
    assert [display_width(line[: line.rindex(" ") + 1]) for line in lines] == [32, 32, 32]
    assert lines[1].split("  ")[0].endswith("…")


def test_outbox_shows_when_a_failed_or_quiet_alert_goes_out(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """A failed row shows its retry time, and a row held by its target's quiet hours says
    "quiet" with the time they end, rather than "pending" at a time already past."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]))
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path}/m.db", http_server.url("/rss"), smtp_server, http_server.port,
        extra=f'    quiet_hours: "{start}-{end}"\n',  # on the chat target, the last one
    )
    smtp_server.stop()
    monitor(config, "run", "--once")
    rows = [line for line in monitor(config, "outbox").stdout.splitlines() if line[:1].isdigit()]
    lines = {line.split()[1]: line for line in rows}
    email, chat = lines["email"].split(), lines["chat"].split()
    assert email[3] == "failed" and email[7] != "-", lines["email"]  # its retry time is shown
    assert chat[3] == "quiet", lines["chat"]
    ends = (now + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    assert f"{chat[7]} {chat[8]}" == ends
    listing = monitor(config, "outbox").stdout
    assert f"quiet hours hold what waits for chat until {ends}" in listing
    quiet = monitor(config, "outbox", "--status", "quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert [line.split()[1] for line in quiet.stdout.splitlines() if line[:1].isdigit()] == ["chat"]


def test_a_feeds_configured_language_is_what_lang_matches(tmp_path: Path, http_server: HTTPServer) -> None:
    """An RSS feed that declares no language: its stories have none, and `lang:ru` cannot match
    them, until the feed's `language:` says what they are; a tag that is no language is refused."""
    russian = Item("ru-1", "Госдума ратифицировала соглашение RELOS с Индией",
                   "Депутаты одобрили соглашение с Индией.", "https://agency.example.ru/relos")
    http_server.routes["/ru"] = Route(rss([russian], title="Агентство"))
    config = tmp_path / "monitor.yaml"

    def write(language: str) -> None:
        config.write_text(
            f"database: sqlite:///{tmp_path}/m.db\nfeeds:\n  - name: Agency\n"
            f"    url: {http_server.url('/ru')}\n{language}"
            "rules:\n  - name: relos-ru\n    query: lang:ru AND RELOS\n",
            encoding="utf-8",
        )

    write("")
    assert "matching a rule: 0" in monitor(config, "run", "--once").stdout
    (tmp_path / "m.db").unlink()
    write("    language: ru\n")
    assert "matching a rule: 1" in monitor(config, "run", "--once").stdout
    write("    language: russian\n")
    bad = monitor(config, "check")
    assert bad.returncode == 2
    assert f"{config}:5: feeds[0].language: 'russian' is not a language tag like en" in bad.stderr
