"""Step-up to urn:yitong:loa:3 through the certified relying party openid-client v6
(tests/interop/stepup.mjs) against the real `yitong serve` over HTTPS, with the embedded reference
base library answering the bank-card 4-factor check over HTTPS.

zhang (real name, TOTP enrolled) signs in at loa:2 with password and code, proves his bank card at
/account/realname/strong (loa:3), and the client's request for acr_values=urn:yitong:loa:3 takes his
browser to the second-factor page and back: openid-client validates an ID token with acr loa:3.
wang (real name, no second factor) cannot reach loa:3: the client gets
unmet_authentication_requirements — never an ID token with a lower acr."""

from __future__ import annotations

import json

import pytest

from idp.security import new_secret
from tests.baselib.server import CSV, LI, STRONG_CSV, ZHANG, ZHANG_CARD, ZHANG_PHONE
from tests.helpers import check_run, free_port, run_yitong
from tests.interop.harness import run_journeys, serve_https
from tests.interop.test_openid_client import node  # noqa: F401  (node: npm ci'd openid-client)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interop-stepup")]

PASSWORD = "Tianjin-2026-correct"
LOA_2, LOA_3 = "urn:yitong:loa:2", "urn:yitong:loa:3"


@pytest.fixture(scope="module")
def results(tmp_path_factory, node):  # noqa: F811
    users, secret = {}, new_secret()
    rp = f"http://127.0.0.1:{free_port()}/cb"
    registered = {}

    def prepare(env: dict, ca_file) -> None:
        env["YITONG_BASELIB_CA_FILE"] = str(ca_file)  # the connector reaches the mounted stand-in over HTTPS
        tmp = ca_file.parent
        for name, text in (("records.csv", CSV), ("strong.csv", STRONG_CSV)):
            (tmp / name).write_text(text, encoding="utf-8")
            check_run(run_yitong(["baselib", "import", str(tmp / name)], env), "yitong baselib import")
        for username, phone in (("zhang", ZHANG_PHONE), ("wang", None)):
            users[username] = json.loads(check_run(run_yitong(
                ["user", "create", "--username", username, *(["--phone", phone] if phone else []),
                 "--password-stdin", "--json"], env, input=f"{PASSWORD}\n".encode()), "yitong user create"))["sub"]
        _real_name(env, users["zhang"], ZHANG, totp_secret=secret)
        _real_name(env, users["wang"], LI)
        registered.update(json.loads(check_run(run_yitong(
            ["client", "create", "--name", "RP step-up", "--redirect-uri", rp, "--grant", "authorization_code",
             "--scope", "openid profile", "--json"], env), "yitong client create")))

    with serve_https(tmp_path_factory.mktemp("stepup-interop"), prepare) as served:
        base = {"issuer": served.issuer, "client_id": registered["client_id"],
                "client_secret": registered["client_secret"], "redirect_uri": rp, "scope": "openid profile",
                "password": PASSWORD}
        journeys = {"strong": {**base, "login": "zhang", "totp_secret": secret, "card_number": ZHANG_CARD,
                               "reserved_phone": ZHANG_PHONE},
                    "weak": {**base, "login": "wang"}}
        steps = run_journeys(node, {name: ("stepup.mjs", params) for name, params in journeys.items()}, served)
        yield {"users": users, "steps": steps, "log": served.log}


def _real_name(env: dict, sub: str, person: tuple[str, str], totp_secret: str | None = None) -> None:
    """A real-name person at loa:2 (as /account/realname records a population-library match), with a
    TOTP authenticator when ``totp_secret`` is given (as /account/mfa enrols one)."""
    from idp.accounts.store import Accounts
    from idp.identity import Identities
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    try:
        keystore = home.keystore()
        Identities(home.engine, keystore).bind(sub, id_type="resident", name=person[0], id_number=person[1],
                                               trust_framework="cn_population_library",
                                               evidence={"type": "electronic_record"})
        accounts = Accounts(home.engine, keystore.custody.master)
        accounts.set_level(sub, LOA_2)
        if totp_secret:
            accounts.enrol_totp(sub, totp_secret)
    finally:
        home.engine.dispose()


def passed(steps: dict, name: str):
    result = steps[name]
    assert result["ok"], f"step {name} failed:\n{json.dumps(result, indent=1, ensure_ascii=False)}"
    return result["value"]


def test_openid_client_sees_the_four_levels(results):
    assert passed(results["steps"]["strong"], "discovery")["acr_values_supported"] == [
        f"urn:yitong:loa:{n}" for n in (1, 2, 3, 4)]


def test_a_loa3_request_steps_up_with_the_totp_code_and_gets_an_id_token_at_loa3(results):
    steps = results["steps"]["strong"]
    first = passed(steps, "sign_in")
    assert first["acr"] == LOA_2 and first["amr"] == ["pwd", "otp"] and first["sawSecondFactor"] is True
    assert first["sub"] == results["users"]["zhang"]
    strong = passed(steps, "strong_realname")
    assert strong == {"status": 200, "success": True, "level": LOA_3}
    stepped = passed(steps, "step_up")
    assert stepped["acr"] == LOA_3 and stepped["amr"] == ["pwd", "otp"] and stepped["sub"] == first["sub"]
    # No new password: /authorize sent the signed-in browser to the second factor and took it back.
    assert stepped["chain"][:3] == ["GET /authorize -> 302", "GET /login/mfa -> 200", "POST /login/mfa -> 302"]
    assert "GET /login -> 200" not in stepped["chain"] and stepped["auth_time"] >= first["auth_time"]
    assert ZHANG_CARD not in results["log"].read_text() and ZHANG[1] not in results["log"].read_text()


def test_a_person_who_cannot_reach_loa3_gets_the_error_never_a_lower_acr(results):
    steps = results["steps"]["weak"]
    assert passed(steps, "sign_in")["acr"] == LOA_2
    refused = steps["step_up"]
    assert not refused["ok"], refused
    assert refused["error"]["error"] == "unmet_authentication_requirements", refused["error"]
