"""Alert settings without a database: SMTP and robots from the environment and Airflow
connections, and the recipients seed against the units that can be responsible."""

from __future__ import annotations

import csv

from include import config
from include.config import PROJECT_ROOT
from include.contract import registry
from include.notify import channels as notify_channels
from include.notify import templates

SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_alert_recipients.csv"
CATALOG_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_indicator_catalog.csv"


def test_configuration_from_environment_and_airflow(monkeypatch):
    monkeypatch.setattr(notify_channels, "airflow_connection", lambda conn_id: None)
    monkeypatch.setenv(config.SMTP_URL_ENV, "smtp+starttls://alerts:p%40ss@mail.example.gov.cn:587")
    monkeypatch.setenv(config.ALERT_FROM_ENV, "fpwh@example.gov.cn")
    s = notify_channels.smtp_settings()
    assert (s.host, s.port, s.login, s.password, s.sender, s.starttls) == (
        "mail.example.gov.cn", 587, "alerts", "p@ss", "fpwh@example.gov.cn", True)
    assert "p@ss" not in repr(s)
    monkeypatch.setenv(config.DEFAULT_WEBHOOK_ENV, "https://robot.example/default")
    monkeypatch.setenv("FPWH_WEBHOOK_WSJ", "https://robot.example/wsj")
    monkeypatch.delenv("FPWH_WEBHOOK_JSW", raising=False)
    monkeypatch.delenv("FPWH_WEBHOOK_MZJ", raising=False)
    assert notify_channels.webhook_url("区人口计生委", "fpwh_webhook_jsw") == "https://robot.example/default"
    assert notify_channels.webhook_url("区卫生局", "fpwh_webhook_wsj") == "https://robot.example/wsj"
    assert notify_channels.webhook_url("区民政局", "fpwh_webhook_mzj") is None

    class Conn:  # an Airflow HTTP connection: scheme, host, endpoint, the robot's key as password
        host, schema, port, password = "qyapi.weixin.qq.com", "https", None, "k-123"
        extra_dejson = {"endpoint": "/cgi-bin/webhook/send"}

    assert notify_channels.url_of_connection(Conn()) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123"


def test_recipients_seed_covers_every_responsible_unit():
    with SEED.open(encoding="utf-8", newline="") as fh:
        seed = list(csv.DictReader(fh))
    units = [r["unit_zh"] for r in seed]
    assert len(units) == len(set(units)) and templates.COMMISSION in units
    assert all(r["email"].endswith("@example.gov.cn") and r["webhook_conn_id"] for r in seed)
    with CATALOG_SEED.open(encoding="utf-8", newline="") as fh:
        leads = {r["lead_unit"] for r in csv.DictReader(fh)}
    assert leads | {s.unit_zh for s in registry.SOURCES} <= set(units)

