"""The container (issue 16, item 5) without a container engine: the image's entrypoint script runs
here as it runs in the image (a POSIX sh, the venv's `yitong` on PATH), the lock file satisfies
pyproject.toml, and the Dockerfile and deploy/compose.yaml say what the issue asks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import clean_env, free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_env(drop=("PROMETHEUS_",))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env["YITONG_HOME"] = str(tmp_path / "home")
    env["YITONG_SECRETS_DIR"] = str(tmp_path / "secrets")
    env.update(extra)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, timeout=120, check=False)


def test_the_entrypoint_refuses_to_start_without_an_issuer_or_a_master_key(tmp_path):
    result = _run(_env(tmp_path), "migrate")
    assert result.returncode == 2 and result.stderr.decode().startswith("yitong-entrypoint: set YITONG_ISSUER")
    result = _run(_env(tmp_path, YITONG_ISSUER="https://id.example.gov.cn"), "migrate")
    assert result.returncode == 2 and b"mount the master key as the secret yitong_master_key" in result.stderr
    assert not (tmp_path / "home").exists()  # nothing was set up: no master key was generated


def test_the_entrypoint_serves_with_the_mounted_master_key_and_no_stand_in(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "yitong_master_key").write_text("00112233445566778899aabbccddeeff\n")
    port = free_port()
    env = _env(tmp_path, YITONG_ISSUER=f"http://127.0.0.1:{port}", HOST="127.0.0.1", PORT=str(port))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, base, lambda: log.read_text(errors="replace"))
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as missing:  # the stand-in base library is not mounted
            urllib.request.urlopen(base + "/baselib/", timeout=10)
        assert missing.value.code == 404
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
    assert not (tmp_path / "home" / "master.key").exists()  # the mounted secret was used, none generated
    assert '"logger": "yitong.serve"' in log.read_text()  # JSON log lines by default in the image
    # Any other command runs as given, with the same checks and the secret.
    shown = _run(env, "yitong", "keys", "list")
    assert shown.returncode == 0 and b"token" in shown.stdout


def test_the_lock_file_satisfies_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            locked[canonicalize_name(name)] = version.strip()
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["postgres"]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (requirement, locked[name])


def test_the_dockerfile_and_compose_file_say_what_the_issue_asks():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M) and re.search(r"^HEALTHCHECK .*\n.*/healthz", dockerfile, re.M)
    assert 'VOLUME ["/var/lib/yitong"]' in dockerfile and "-r requirements.lock" in dockerfile
    assert "ENTRYPOINT [\"/usr/local/bin/yitong-entrypoint\"]" in dockerfile
    # Every package the wheel is built from is copied into the build stage (licence/ once was not).
    import tomllib

    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
    assert {name for name in packages if f"COPY {name} ./{name}" not in dockerfile} == set()
    assert "YITONG_ISSUER=" not in dockerfile.replace("-e YITONG_ISSUER=", "")  # no default issuer
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "app1", "app2", "worker", "nginx"}
    assert services["app1"]["command"] == services["app2"]["command"] == ["serve", "--workers", "2"]
    assert services["worker"]["command"][:2] == ["worker", "--metrics-port"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["app1"]["environment"]["YITONG_TRUSTED_PROXIES"] == \
        compose["networks"]["front"]["ipam"]["config"][0]["subnet"]
    template = (REPO / "deploy" / "nginx.conf.template").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z0-9_]+)\}", template))
    assert placeholders <= set(services["nginx"]["environment"]), placeholders - set(services["nginx"]["environment"])
