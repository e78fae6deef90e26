"""notify: rendering with escaping, and delivery through apprise to a real SMTP server and
a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import DeliverySettings, NotificationConfig
from monitor.models import Span, Story
from monitor.notify import Notifier, Renderer, deliver_pending
from monitor.notify.render import escape_chat
from monitor.store import Delivery, Store, TargetRoute, create_engine_for, upgrade_schema
from tests.factories import queue_hits
from tests.servers import HTTPServer, SMTPServer, body_text

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOSTILE = Story(
    feed="Herald",
    guid="g1",
    url="https://herald.example/relos?a=1&b=2",
    title="<script>alert(1)</script> RELOS & the @channel <!here> [pact](https://evil.example)",
    summary="Russia's Duma ratified the RELOS pact with India on Tuesday, officials said.",
    published=NOW,
    fetched=NOW,
    source="The Herald",
)
SPANS = (Span("summary", HOSTILE.summary.index("RELOS"), HOSTILE.summary.index("RELOS") + 5, "RELOS"),)


def _delivery(n: int = 1, story: Story = HOSTILE) -> Delivery:
    return Delivery(n, "t", 0, "relos", story, ("RELOS",), SPANS, None)


def test_html_escapes_feed_text_and_highlights_terms() -> None:
    """Email HTML shows the headline escaped, linked, with the matched term highlighted."""
    message = Renderer().alerts([_delivery()], "html", timezone="Asia/Kolkata")
    assert "<script>" not in message.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; RELOS &amp; the @channel" in message.body
    assert 'href="https://herald.example/relos?a=1&amp;b=2"' in message.body
    assert "<mark><strong>RELOS</strong></mark>" in message.body
    assert "2026-11-20 17:30 IST" in message.body
    assert "The Herald" in message.body and "relos" in message.body


def test_chat_markdown_neutralises_markup_and_mentions() -> None:
    """Chat text escapes markup with CommonMark escapes, breaks @channel / <!here> mentions and
    cannot forge a link."""
    body = Renderer().alerts([_delivery()], "markdown").body
    assert "<script>" not in body and r"\<script\>" in body
    assert "@channel" not in body and "@\u2060channel" in body
    assert "<!here>" not in body
    assert r"\[pact\](https://evil.example)" in body
    assert "**RELOS**" in body
    assert "(https://herald.example/relos?a=1&b=2)" in body
    assert "&amp;" not in body, "apprise escapes entities for Slack itself"


def test_feed_links_cannot_inject() -> None:
    """A javascript: link is dropped and link-ending characters are percent-encoded."""
    from dataclasses import replace

    evil = replace(HOSTILE, link="javascript:alert(1)", url="javascript:alert(1)")
    html = Renderer().alerts([_delivery(story=evil)], "html").body
    assert "javascript:" not in html
    piped = replace(HOSTILE, link="https://x.example/a|<!channel>")
    chat = Renderer().alerts([_delivery(story=piped)], "markdown").body
    assert "(https://x.example/a%7C%3C!channel%3E)" in chat


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a & b", "a & b"),
        ("<@U123>", "\\<@\u2060U123\\>"),
        ("[x](y)", r"\[x\](y)"),
        ("@here", "@\u2060here"),
        ("Su-30 *MKI* #1", r"Su-30 \*MKI\* \#1"),
    ],
)
def test_escape_chat(raw: str, escaped: str) -> None:
    """Chat escaping table."""
    assert escape_chat(raw) == escaped


def test_many_alerts_render_as_one_message() -> None:
    """Several deliveries become one message whose title counts them."""
    message = Renderer().alerts([_delivery(n) for n in range(1, 8)], "text")
    assert message.title == "[monitor] 7 new alerts (relos)"
    assert message.body.count("[relos]") == 7


@pytest.fixture
def store(tmp_path: object) -> Iterator[Store]:
    engine = create_engine_for(f"sqlite:///{tmp_path}/n.db")
    upgrade_schema(engine)
    s = Store(engine)
    s.sync_feeds([("Herald", "https://herald.example/rss")], NOW)
    yield s
    engine.dispose()


def test_delivery_reaches_smtp_and_webhook_and_marks_sent(
    store: Store, smtp_server: SMTPServer, http_server: HTTPServer
) -> None:
    """Pending alerts go to the SMTP server (HTML + text) and the webhook, then are sent."""
    notifier = Notifier(
        [
            NotificationConfig(name="email", url=smtp_server.url()),
            NotificationConfig(name="hook", url=f"json://127.0.0.1:{http_server.port}/hook"),
        ],
        Renderer(),
    )
    queue_hits(store, 1, TargetRoute("email"), TargetRoute("hook"), at=NOW)
    report = deliver_pending(store, notifier, DeliverySettings(), now=NOW)
    assert (report.sent, report.failed) == (2, 0)
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "[monitor] relos: RELOS story 0"
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    assert "RELOS story 0" in body_text(mail)
    # Mail readers showing only the plain-text part still get the story's address.
    (plain,) = [part for part in mail.walk() if part.get_content_type() == "text/plain"]
    assert "https://herald.example/0" in body_text(plain)
    (post,) = http_server.posts("/hook")
    assert "RELOS story 0" in post["message"]
    assert store.outbox_counts() == {"sent": 2}
    assert deliver_pending(store, notifier, DeliverySettings(), now=NOW + timedelta(hours=1)).sent == 0


def test_a_down_target_keeps_alerts_pending_without_delaying_the_other(
    store: Store, smtp_server: SMTPServer, http_server: HTTPServer
) -> None:
    """SMTP down: the webhook still gets its alert; the email stays pending with the error."""
    smtp_server.stop()
    notifier = Notifier(
        [
            NotificationConfig(name="email", url=smtp_server.url()),
            NotificationConfig(name="hook", url=f"json://127.0.0.1:{http_server.port}/hook"),
        ],
        Renderer(),
    )
    queue_hits(store, 1, TargetRoute("email"), TargetRoute("hook"), at=NOW)
    report = deliver_pending(store, notifier, DeliverySettings(), now=NOW)
    assert (report.sent, report.failed) == (1, 1)
    assert len(http_server.posts("/hook")) == 1
    assert store.outbox_counts() == {"sent": 1, "pending": 1}
    smtp_server.start()
    later = NOW + timedelta(hours=2)
    assert deliver_pending(store, notifier, DeliverySettings(), now=later).sent == 1
    assert len(smtp_server.messages) == 1
    assert len(http_server.posts("/hook")) == 1


def test_a_burst_is_batched_into_a_few_messages(store: Store, http_server: HTTPServer) -> None:
    """A hundred hits reach a chat target in a handful of messages, not a hundred paced sends."""
    notifier = Notifier(
        [NotificationConfig(name="chat", url=f"json://127.0.0.1:{http_server.port}/c")], Renderer()
    )
    queue_hits(store, 100, TargetRoute("chat"), at=NOW)
    report = deliver_pending(store, notifier, DeliverySettings(batch_size=25), now=NOW)
    assert report.sent == 100
    posts = http_server.posts("/c")
    assert len(posts) == 4
    assert all("25 new alerts" in p["message"] for p in posts)


def test_empty_url_target_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A target whose URL resolved to empty is left out, with one warning naming it."""
    notifier = Notifier([NotificationConfig(name="slack", url="")], Renderer())
    assert notifier.targets == {}
    assert "target 'slack' has an empty URL" in caplog.text


def test_secrets_are_masked_in_failure_messages(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """A failing target's password appears neither in the stored error nor in the log."""
    from tests.servers import free_port

    url = f"mailto://user:SuperSecret123@127.0.0.1:{free_port()}?from=a@example.org&to=b@example.org"
    notifier = Notifier([NotificationConfig(name="email", url=url)], Renderer())
    queue_hits(store, 1, TargetRoute("email"), at=NOW)
    report = deliver_pending(store, notifier, DeliverySettings(), now=NOW)
    assert report.failed == 1
    (entry,) = store.list_outbox(status="failed")
    assert entry.status == "failed"
    assert entry.last_error and "SuperSecret123" not in entry.last_error
    assert "Connection refused" in entry.last_error, "the cause, which apprise logs only at debug level"
    assert "SuperSecret123" not in caplog.text
    assert "SuperSecret123" not in notifier.targets["email"].masked


def test_a_headline_cannot_ping_a_mattermost_channel(http_server: HTTPServer) -> None:
    """Mattermost has no title field: apprise puts the title above the body, where it is
    rendered like the body, so it is escaped the same way (it used to go out raw)."""
    notifier = Notifier(
        [NotificationConfig(name="chat", url=f"mmost://127.0.0.1:{http_server.port}/abcdefghijklmnop")],
        Renderer(),
    )
    message = Renderer().alerts([_delivery()], "markdown")
    assert "@channel" in message.title, "the raw headline is in the title"
    assert notifier.send("chat", message) is None
    (post,) = http_server.posts("/hooks/abcdefghijklmnop")
    text = post["text"]
    assert "RELOS" in text.splitlines()[0], "the title still leads the message"
    assert "@channel" not in text and "<!here>" not in text and "<script>" not in text
    assert "[pact](https://evil.example)" not in text
