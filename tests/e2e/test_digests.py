"""What a whole demo run tells people (the `demo_run` of conftest, its mail in the session's
SMTP outbox, the commission's robot on the session's HTTP receiver): one digest per recipient."""

from __future__ import annotations

import collections
import email
import email.policy
import json

import psycopg

from tests.conftest import DEMO_ROBOT_PATH


def test_a_run_sends_one_digest_per_recipient_and_one_robot_message(demo_run, alert_outbox, robot_server):
    with psycopg.connect(demo_run.url) as conn:
        (run_id,) = conn.execute("select distinct run_id from alerts.sent_digests").fetchone()
        digests = conn.execute("select recipient, channel, items, new_items, error from alerts.sent_digests "
                               "where run_id = %s", (run_id,)).fetchall()
        items = conn.execute("select alert_key, recipients, channels, digest_ids, status from alerts.sent_alerts "
                             "where run_id = %s", (run_id,)).fetchall()
        units = [u for (u,) in conn.execute("select unit_zh from reference.ref_alert_recipients")]
    channels = collections.Counter(channel for _, channel, *_ in digests)
    assert channels and max(channels.values()) == 1, "one message per recipient and channel"
    assert all(error is None for *_, error in digests)
    webhooks = [row for row in digests if row[1].startswith("webhook:")]
    assert [w[0] for w in webhooks] == ["区人口计生委"], "one post: the one configured robot"
    emails = [row for row in digests if row[1].startswith("email:")]
    assert len(emails) <= len(units)

    # every item reached every recipient it is routed to, in that recipient's one digest
    assert items and len({key for key, *_ in items}) == len(items)
    for key, recipients, reached, digest_ids, status in items:
        assert status == "new" and {f"email:{u}" for u in recipients} <= set(reached), key
        assert len(digest_ids) == len(reached)
    commission = next(row for row in emails if row[0] == "区人口计生委")
    assert commission[2] == len(items), "the commission's digest lists every item"

    # what the SMTP server received: one message per address for this run, Chinese, HTML + text
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in alert_outbox.glob("*.eml")]
    mine = [m for m in messages if m["X-FPWH-Run-Id"] == run_id]
    addresses = collections.Counter(str(m["To"]) for m in mine)
    assert len(mine) == len(emails) and max(addresses.values()) == 1, addresses
    for message in mine:
        text = message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)) is not None and "运行编号" in text and run_id in text
        assert "No delivery" not in text and "unexpected rows" not in text
    posts = [json.loads(body) for path, _, body in robot_server.posts if path == DEMO_ROBOT_PATH]
    assert len(posts) == 1 and len(posts[0]["markdown"]["content"].encode()) <= 4096
    print(f"demo run {run_id}: {len(items)} items in {len(mine)} emails and {len(posts)} robot message")
