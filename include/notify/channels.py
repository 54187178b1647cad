"""The channels alerts go by: email (SMTP) and the units' chat robots (webhooks).

Email: one message per recipient unit, HTML with a plain-text alternative. Robots: one JSON
post per robot, in the WeCom robot format {"msgtype": "markdown", "markdown": {"content": ...}}.

Configuration (no credentials in code; names in include.config):
  SMTP     Airflow connection `fp_smtp` (host, port, login, password, extra {"from": ...,
           "starttls": true, "ssl": false}) when Airflow is available; else
           FPWH_SMTP_URL = smtp://[user:password@]host:port (smtp+starttls:// for STARTTLS,
           smtps:// for implicit TLS) and FPWH_ALERT_FROM (the sender address).
  Robots   per unit, the Airflow connection named in the seed's `webhook_conn_id` (extra
           {"url": ...}, or schema (https) :// host[:port] extra.endpoint, with the robot's
           key as password, appended as ?key=...); else the environment variable of that
           name upper-cased (fpwh_webhook_jsw -> FPWH_WEBHOOK_JSW) holding the full URL;
           for the commission, else FPWH_WEBHOOK_URL (the default robot).
  Units without a robot are reached by email only. Robot URLs carry their key: they are
  never logged.

A channel sends a digest (`Message`: a subject, a plain text, an HTML and a markdown
rendering, which digest's `Digest` is); what to send and to whom is decided before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

from include import config
from include.notify import templates

log = logging.getLogger(__name__)

SENDER_NAME = "人口计生数据仓库"


class Message(Protocol):
    subject: str
    text: str
    html: str
    markdown: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = config.DEFAULT_ALERT_FROM
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = config.DELIVERY_TIMEOUT_SECONDS


# --------------------------------------------------------------------------- configuration


def airflow_connection(conn_id: str):
    """The Airflow connection `conn_id`, or None when Airflow or the connection is absent."""
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception:  # no Airflow here, or no such connection
        log.debug("no Airflow connection %s", conn_id)
        return None


def smtp_settings() -> SmtpSettings | None:
    """SMTP settings from the Airflow connection `fp_smtp`, else FPWH_SMTP_URL; None if neither."""
    conn = airflow_connection(config.SMTP_CONN_ID)
    if conn is not None and conn.host:
        extra = conn.extra_dejson or {}
        return SmtpSettings(
            host=conn.host,
            port=int(conn.port or (465 if extra.get("ssl") else 25)),
            login=conn.login or None,
            password=conn.password or None,
            sender=extra.get("from") or config.env(config.ALERT_FROM_ENV) or config.DEFAULT_ALERT_FROM,
            starttls=config.flag(extra.get("starttls", False)),
            use_ssl=config.flag(extra.get("ssl", False)),
        )
    url = config.env(config.SMTP_URL_ENV)
    if not url:
        return None
    split = urlsplit(url)
    if split.scheme not in ("smtp", "smtp+starttls", "smtps") or not split.hostname:
        raise ValueError(f"{config.SMTP_URL_ENV} must look like smtp://host:port (or smtp+starttls://, smtps://)")
    return SmtpSettings(
        host=split.hostname,
        port=split.port or (465 if split.scheme == "smtps" else 25),
        login=unquote(split.username) if split.username else None,
        password=unquote(split.password) if split.password else None,
        sender=config.env(config.ALERT_FROM_ENV) or config.DEFAULT_ALERT_FROM,
        starttls=split.scheme == "smtp+starttls",
        use_ssl=split.scheme == "smtps",
    )


def webhook_url(unit: str, conn_id: str | None) -> str | None:
    """The chat robot URL of a unit: its Airflow connection, else its environment variable,
    else (the commission only) FPWH_WEBHOOK_URL. None: the unit has no robot."""
    url = None
    if conn_id:
        conn = airflow_connection(conn_id)
        if conn is not None:
            url = url_of_connection(conn)
        url = url or config.env(conn_id.upper())
    if not url and unit == templates.COMMISSION:
        url = config.env(config.DEFAULT_WEBHOOK_ENV)
    return url or None


def url_of_connection(conn) -> str | None:
    """The robot URL an Airflow connection describes (see the module), its key included."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return extra["url"]
    if not conn.host:
        return None
    if conn.host.startswith(("http://", "https://")):
        base = conn.host
    else:
        base = f"{conn.schema or 'https'}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    url = base.rstrip("/") + (extra.get("endpoint") or "")
    if conn.password:
        url += ("&" if "?" in url else "?") + "key=" + conn.password
    return url


# --------------------------------------------------------------------------- email


class Mailer:
    """One SMTP session for a delivery, reopened after a failure."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.use_ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.login:
            smtp.login(s.login, s.password or "")
        return smtp

    def send(self, message: Message, unit: str, address: str, run_id: str | None = None) -> None:
        # compat32 MIMEText and Header: the newer EmailMessage folding drops the space between
        # two RFC 2047 encoded words of a Chinese subject ("目标 ≥ 90%" would arrive as "目标≥ 90%")
        msg = MIMEMultipart("alternative")
        msg.attach(MIMEText(message.text, "plain", "utf-8"))
        msg.attach(MIMEText(message.html, "html", "utf-8"))
        msg["Subject"] = Header(message.subject, "utf-8")
        msg["From"] = formataddr((SENDER_NAME, self.settings.sender), charset="utf-8")
        msg["To"] = formataddr((unit, address), charset="utf-8")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        if run_id:
            msg["X-FPWH-Run-Id"] = run_id if run_id.isascii() else Header(run_id, "utf-8")
        try:
            if self._smtp is None:
                self._smtp = self._open()
            self._smtp.send_message(msg)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):  # the session is gone either way
                self._smtp.quit()
            self._smtp = None


# --------------------------------------------------------------------------- chat robots


def post_webhook(url: str, content: str) -> None:
    """Post the markdown `content` to the robot at `url`; raises RuntimeError, whose text never
    holds the URL."""
    payload = {"msgtype": "markdown", "markdown": {"content": content}}
    request = urllib.request.Request(
        url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=config.DELIVERY_TIMEOUT_SECONDS) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:  # its text names no URL (the URL holds the key)
        raise RuntimeError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise RuntimeError(f"unreachable: {exc.reason}") from None
    try:  # the WeCom robot answers 200 with {"errcode": 0, "errmsg": "ok"}, or an errcode
        reply = json.loads(answer or b"{}")
    except ValueError:
        return
    if isinstance(reply, dict) and reply.get("errcode") not in (None, 0):
        raise RuntimeError(f"robot error {reply.get('errcode')}: {reply.get('errmsg')}")
