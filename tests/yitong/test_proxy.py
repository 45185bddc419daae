"""Behind a reverse proxy (issue 12, item 2): a real `yitong serve` behind a real forwarding proxy.

Every party speaks from its own loopback address (Linux routes 127.0.0.0/8 locally), chosen at
random per test so that parallel runs never share rate-limit counters in a shared Redis.
"""

from __future__ import annotations

import json
import random
import secrets

import pytest

from tests.helpers import check_run, run_yitong
from tests.yitong.web_support import PASSWORD, Browser, create_user, forwarding_proxy, serve
from yitong.proxy import TrustedProxies
from yitong.settings import Settings, SettingsError

pytestmark = pytest.mark.e2e


def loopback_addresses() -> dict[str, str]:
    net = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}"
    return {"proxy": f"{net}.2", "a": f"{net}.3", "b": f"{net}.4", "direct": f"{net}.5"}


def test_failed_logins_of_one_client_behind_a_trusted_proxy_do_not_throttle_another(storage, upgraded_home, tmp_path):
    ip = loopback_addresses()
    alice = f"alice-{secrets.token_hex(4)}"  # the server's Redis has no per-test prefix: fresh names, fresh counters
    env = {**upgraded_home.env, "YITONG_TRUSTED_PROXIES": ip["proxy"]}
    create_user(env, alice)
    # Two workers share the limits through Redis (the default there, 2 x cores + 1, only costs start-up).
    workers = ("--workers", "2") if storage.redis_url else ()
    with serve(env, tmp_path / "server.log", *workers) as base, forwarding_proxy(base, ip["proxy"]) as front:
        attacker = Browser(front, ip["a"])
        csrf = attacker.login_form()
        statuses = [attacker.login(csrf, alice, f"guess-{n}")[0] for n in range(60)]
        assert 302 not in statuses and statuses[0] == 401
        assert statuses[-1] == 429  # the attacker's own address is refused...

        owner = Browser(front, ip["b"])
        status, headers, _ = owner.login(owner.login_form(), alice, PASSWORD)
        assert status == 302, "the owner, behind the same proxy, signs in"  # ...not everyone behind the proxy
        assert "retry-after" not in headers

        # A client talking to the server directly is not a proxy: what it writes in X-Forwarded-For
        # is ignored, so a new made-up address per try does not escape the per-address limit.
        direct = Browser(base, ip["direct"])
        csrf = direct.login_form()
        spoofed = [direct.login(csrf, f"{alice}-nobody-{n}", "x", headers={"X-Forwarded-For": f"10.20.{n}.1"})[0]
                   for n in range(25)]
        assert spoofed[0] == 401 and spoofed[-1] == 429

    tail = check_run(run_yitong(["audit", "tail", "--event", "login.failure", "--limit", "200", "--json"], env),
                     "audit tail")
    addresses = {json.loads(line)["ip"] for line in tail.splitlines()}
    assert ip["a"] in addresses and ip["direct"] in addresses  # the client, not the proxy
    assert ip["proxy"] not in addresses and not any(a.startswith("10.20.") for a in addresses)


def test_the_client_address_is_the_rightmost_one_no_trusted_proxy_wrote():
    proxies = TrustedProxies(["10.0.0.0/24", "192.0.2.7"])
    assert proxies.client_address("10.0.0.9", "198.51.100.1, 192.0.2.7") == "198.51.100.1"
    assert proxies.client_address("10.0.0.9", "6.6.6.6, 198.51.100.1") == "198.51.100.1"  # 6.6.6.6: made up
    assert proxies.client_address("10.0.0.9", "garbage") == "10.0.0.9"
    assert not proxies.trusts("198.51.100.1") and proxies.trusts("::ffff:10.0.0.1")
    assert not TrustedProxies([])


def test_trusted_proxies_are_validated_with_the_other_settings(tmp_path, yitong_env):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/24"})
    assert settings.trusted_proxies == ("10.0.0.5/32", "10.1.0.0/24")
    assert Settings.from_env({"YITONG_HOME": str(tmp_path)}).trusted_proxies == ()
    for bad in ("proxy.example", "10.1.0.1/24", "*"):
        with pytest.raises(SettingsError, match="YITONG_TRUSTED_PROXIES"):
            Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_TRUSTED_PROXIES": bad})
    result = run_yitong(["db", "upgrade"], {**yitong_env, "YITONG_TRUSTED_PROXIES": "10.1.0.1/24"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert b"YITONG_TRUSTED_PROXIES" in result.stderr


def test_the_verify_limit_counts_each_client_behind_a_trusted_proxy_apart(storage, tmp_path):
    from tests.idp.support import make_idp

    web = make_idp(storage, tmp_path, YITONG_TRUSTED_PROXIES="10.0.0.9", YITONG_VERIFY_RATE_LIMIT="3").app.test_client()

    def upload(client: str, peer: str = "10.0.0.9"):
        return web.post("/verify/api/v1/pdf", data=b"not a pdf", content_type="application/pdf",
                        headers={"X-Forwarded-For": client}, environ_base={"REMOTE_ADDR": peer}).status_code

    assert [upload("198.51.100.1") for _ in range(4)] == [415, 415, 415, 429]
    assert upload("198.51.100.2") == 415  # another client behind the same proxy is not refused
    assert [upload(f"203.0.113.{n}", peer="192.0.2.50") for n in range(4)] == [415, 415, 415, 429]  # spoofed
