"""deploy/: the Prometheus scrape config, alert rules and Grafana dashboard name only metrics that
Yitong exports (keys/observe.py, yitong/observability.py), and the rules cover what issue 16 asks
alerts for (CA and CRL expiry, error rate, an open breaker, failed jobs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from keys import observe

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCRAPE_TIME = {"yitong_key_age_seconds", "yitong_ca_certificate_expiry_timestamp_seconds",
               "yitong_crl_next_update_timestamp_seconds", "yitong_job_queue_jobs", "yitong_scrape_errors"}


def _exported() -> set[str]:
    names = set(SCRAPE_TIME)
    for metric in observe._define_once().values():
        for family in metric.describe():
            base = family.name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    source = (Path(__file__).resolve().parents[2] / "yitong" / "observability.py").read_text()
    assert SCRAPE_TIME <= set(re.findall(r'"(yitong_[a-z_]+)"', source))
    return names


def _used(text: str) -> set[str]:
    return set(re.findall(r"\byitong_[a-z_]+\b", text))


def test_alert_rules_use_exported_metrics_and_cover_the_issue():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    exported = _exported()
    for name, expr in alerts.items():
        assert _used(expr) and _used(expr) <= exported, (name, _used(expr) - exported)
    covered = " ".join(alerts.values())
    for metric in ("yitong_ca_certificate_expiry_timestamp_seconds", "yitong_crl_next_update_timestamp_seconds",
                   "yitong_connector_breaker_state", "yitong_job_queue_jobs"):
        assert metric in covered
    assert re.search(r'yitong_http_requests_total\{status=~"5\.\."\}', covered)


def test_scrape_config_loads_the_rules_and_keeps_the_token_out():
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and "credentials_file" in job["authorization"]
    assert "credentials" not in job["authorization"]
    worker = next(job for job in config["scrape_configs"] if job["job_name"] == "yitong-worker")
    assert worker["metrics_path"] == "/metrics" and "credentials_file" in worker["authorization"]
    command = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["worker"]["command"]
    port = command[command.index("--metrics-port") + 1]
    assert all(target.endswith(f":{port}") for target in worker["static_configs"][0]["targets"])


def test_the_dashboard_queries_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    exported = _exported()
    for expr in exprs:
        assert _used(expr) and _used(expr) <= exported, (expr, _used(expr) - exported)
    shown = " ".join(exprs)
    for metric in ("yitong_jobs_total", "yitong_licences_issued_total", "yitong_licence_status_lookups_total",
                   "yitong_licence_showings_total", "yitong_licence_files_verified_total"):
        assert metric in shown, metric
