"""`yitong verify` as a user runs it: exit codes, JSON (validated against the committed schema), HTML."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from keys.pki.certificates import certificate_pem
from tests.helpers import clean_env, run_yitong
from tests.verify.support import base_pdf

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "verify" / "schema" /
                     "yitong-verify-report-1.json").read_text(encoding="utf-8"))


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)


@pytest.fixture(scope="module")
def files(world, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify-cli")
    sealed = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    out = {
        "sealed": sealed,
        "tampered": sealed.replace(b"Business licence page 1", b"Business licence page 9", 1),
        "p256": world.doc("plain-p256", lambda: world.sign(base_pdf(), world.p256)),
    }
    paths = {}
    for name, data in out.items():
        paths[name] = folder / f"{name}.pdf"
        paths[name].write_bytes(data)
    paths["trust"] = folder / "trust.pem"
    paths["trust"].write_bytes(world.pki.trust_bundle())
    paths["sm2-only"] = folder / "sm2-only.pem"
    paths["sm2-only"].write_bytes(certificate_pem(world.pki.ca_certificate("sm2-root")))
    return paths


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return clean_env()


def test_a_genuine_seal_exits_0_with_json_that_matches_the_schema_and_an_html_report(files, env, tmp_path):
    html_dir = tmp_path / "html"
    result = run_yitong(["verify", str(files["sealed"]), "--trust", str(files["trust"]), "--json",
                         "--html", str(html_dir)], env)
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    validate(document)
    assert document["schema"] == "yitong-verify-report/1"
    entry = document["files"][0]
    assert entry["indication"] == "TOTAL_PASSED" and entry["signatures"][0]["seal"]["es_id"]
    assert f"trust bundle: {files['trust']}" in result.stderr.decode()
    page = (html_dir / "sealed.pdf.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "TOTAL_PASSED" in page
    assert ("page thumbnail" in page) or ("pdftoppm is not installed" in page)


def test_a_manipulated_file_among_others_exits_1_and_every_report_matches_the_schema(files, env):
    result = run_yitong(["verify", str(files["sealed"]), str(files["tampered"]), str(files["p256"]),
                         "--trust", str(files["trust"]), "--json"], env)
    assert result.returncode == 1, result.stderr.decode()
    document = json.loads(result.stdout)
    validate(document)
    assert [f["indication"] for f in document["files"]] == ["TOTAL_PASSED", "TOTAL_FAILED", "TOTAL_PASSED"]
    assert document["files"][1]["sub_indication"] == "HASH_FAILURE"


def test_an_untrusted_root_exits_3_and_the_summary_says_why(files, env):
    result = run_yitong(["verify", str(files["p256"]), "--trust", str(files["sm2-only"])], env)
    assert result.returncode == 3, result.stderr.decode()
    assert "INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND" in result.stdout.decode()


def test_bad_usage_and_unreadable_files_exit_2_without_a_traceback(files, env, tmp_path):
    no_trust = run_yitong(["verify", str(files["sealed"])], env)
    assert no_trust.returncode == 2 and b"--trust" in no_trust.stderr and b"Traceback" not in no_trust.stderr
    missing = run_yitong(["verify", str(tmp_path / "absent.pdf"), "--trust", str(files["trust"])], env)
    assert missing.returncode == 2 and b"cannot open" in missing.stderr
    bad_trust = tmp_path / "bad.pem"
    bad_trust.write_bytes(b"not a certificate")
    result = run_yitong(["verify", str(files["sealed"]), "--trust", str(bad_trust)], env)
    assert result.returncode == 2 and b"Traceback" not in result.stderr


def test_without_trust_it_uses_the_home_bundle_only_when_yitong_home_is_set(files, env, tmp_path):
    home = tmp_path / "home"
    (home / "pki").mkdir(parents=True)
    (home / "pki" / "trust.pem").write_bytes(files["trust"].read_bytes())
    result = run_yitong(["verify", str(files["sealed"])], {**env, "YITONG_HOME": str(home)})
    assert result.returncode == 0, result.stderr.decode()
    assert f"trust bundle: {home / 'pki' / 'trust.pem'}" in result.stderr.decode()


def test_without_trust_or_yitong_home_it_uses_the_default_homes_bundle(files, monkeypatch, tmp_path):
    """A second shell after `make run` (no YITONG_HOME) finds the bundle every other command's home has."""
    import click

    from yitong.cli import verify as verify_cli

    home = tmp_path / "default-home"
    monkeypatch.delenv("YITONG_HOME", raising=False)
    monkeypatch.setattr(verify_cli, "default_home", lambda env: home)
    with pytest.raises(click.UsageError, match="there is none at"):
        verify_cli._trust_path(None)
    (home / "pki").mkdir(parents=True)
    (home / "pki" / "trust.pem").write_bytes(files["trust"].read_bytes())
    assert verify_cli._trust_path(None) == home / "pki" / "trust.pem"
