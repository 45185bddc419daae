"""How the seal API reaches the IdP that issues its tokens (issue 12, items 12 and 16).

In the embedded default the IdP is the same application: discovery, JWKS and introspection are
handed to it in process, so a burst of signs on a cold single worker never waits on itself over
HTTP. A seal API elsewhere speaks to the IdP over the network, with the same answers. Neither
needs YITONG_SEAL_CLIENT_* when it shares the home: `db upgrade` registers the seal API's client.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from seal.tokens import OidcGateway, TokenRefused, TokenValidator
from tests.seal.service import yitong_service
from tests.seal.support import ORG_NAME, ORG_USCC
from tests.seal.test_api import assert_problem, call, cli, client, sign, token
from yitong.app import create_app
from yitong.home import Home
from yitong.seal_idp import SEAL_CLIENT_ID, introspection_credentials, seal_idp_gateway
from yitong.settings import Settings

pytestmark = pytest.mark.e2e
BURST = 20


def _grant_a_business_client(env) -> dict:
    granted = client(env, "seal:read", "seal:sign")
    seal = cli(env, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name", ORG_NAME,
               "--type", "04", "--grant-client", granted["client_id"], "--json")
    return {"granted": granted, "org": seal["esid"]}


def _burst_of_signs(api) -> Counter:
    """How many of BURST signs sent at once, each with its own fresh token, got each (status,
    problem type)."""
    bearers = [token(api, "granted") for _ in range(BURST)]

    def one(bearer: str) -> tuple[int, str]:
        status, _, body = sign(api, api["org"], bearer)
        return status, json.loads(body).get("type", "") if status != 200 else ""

    with ThreadPoolExecutor(BURST) as pool:
        return Counter(pool.map(one, bearers))


def _revoke(api, who: str, bearer: str) -> None:
    creds = api[who]
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, _, _ = call("POST", api["base"] + "/revoke", body=urllib.parse.urlencode({"token": bearer}).encode(),
                        headers={"Authorization": f"Basic {basic}",
                                 "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200


def test_a_burst_of_signs_on_a_fresh_home_and_after_a_restart_all_succeed(tmp_path):
    """The probe's cold start: 20 signs at once on one worker gave 16 x 503 seal:idp-unavailable."""
    home = tmp_path / "home"
    with yitong_service(home, before_serve=_grant_a_business_client) as (base, env, state):
        assert not any(name.startswith("YITONG_SEAL_") for name in env)
        first = _burst_of_signs({"base": base, **state})
    assert first == {(200, ""): BURST}
    port = int(base.rsplit(":", 1)[1])
    with yitong_service(home, port=port) as (base, _env):  # a restart: nothing is cached in the new process
        again = _burst_of_signs({"base": base, **state})
    assert again == {(200, ""): BURST}


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """A running service on a fresh home: the IdP (and its own seal API)."""
    tmp = tmp_path_factory.mktemp("seal-idp")
    with yitong_service(tmp / "home", before_serve=_grant_a_business_client) as (base, env, state):
        yield {"base": base, "env": env, "tmp": tmp, **state}


def test_over_the_network_and_in_process_the_idp_gives_the_same_answers(idp):
    """The home's own introspection client works over HTTP too (a seal API in another process
    sharing the home), and both ways see a revocation at once."""
    settings = Settings.from_env(idp["env"])
    home = Home(settings)
    client_id, client_secret = introspection_credentials(home, settings)
    assert client_id == SEAL_CLIENT_ID and client_secret
    network = OidcGateway(idp["base"], client_id=client_id, client_secret=client_secret)
    in_process = seal_idp_gateway(create_app(settings, home), home, settings)()

    assert network.jwks() == in_process.jwks() and network.jwks()["keys"]
    bearer = token(idp, "granted")
    answers = [network.introspect(bearer), in_process.introspect(bearer)]
    assert answers[0] == answers[1] and answers[0]["active"] is True
    assert answers[0]["client_id"] == idp["granted"]["client_id"]
    assert network.introspect("not-a-token") == in_process.introspect("not-a-token") == {"active": False}
    _revoke(idp, "granted", bearer)
    assert network.introspect(bearer) == in_process.introspect(bearer) == {"active": False}

    validator = TokenValidator(gateway=network, audience=f"{idp['base']}/seal")
    caller = validator.caller(f"Bearer {token(idp, 'granted')}", scope="seal:sign", method="POST",
                              url=f"{idp['base']}/seal/seals/{idp['org']}/sign", dpop_proof=None, introspect=True)
    assert caller.client_id == idp["granted"]["client_id"]

    wrong = OidcGateway(idp["base"], client_id=client_id, client_secret="not-the-secret")
    with pytest.raises(TokenRefused) as refused:
        wrong.introspect(bearer)
    assert refused.value.status == 503 and "does not accept client 'yitong-seal-api'" in refused.value.description
    home.engine.dispose()


def test_without_an_introspection_client_signing_says_what_to_do():
    with pytest.raises(TokenRefused) as refused:
        OidcGateway("http://127.0.0.1:9").introspect("any")
    assert (refused.value.status, refused.value.error) == (503, "not-configured")
    assert "yitong db upgrade" in refused.value.description and "YITONG_SEAL_CLIENT_ID" in refused.value.description


def test_a_seal_api_on_another_host_checks_tokens_with_the_idp_over_http(idp, tmp_path):
    """A split deployment: the seal API has its own home and issuer, trusts the IdP's issuer and
    introspects with a client registered at the IdP (YITONG_SEAL_CLIENT_*)."""
    resource_server = client(idp["env"], "seal:read")
    extra = {"YITONG_SEAL_IDP_ISSUER": idp["base"], "YITONG_SEAL_AUDIENCE": f"{idp['base']}/seal",
             "YITONG_SEAL_CLIENT_ID": resource_server["client_id"],
             "YITONG_SEAL_CLIENT_SECRET": resource_server["client_secret"]}

    def a_seal_for_the_idp_s_client(env) -> str:
        return cli(env, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
                   ORG_NAME, "--type", "04", "--grant-client", idp["granted"]["client_id"], "--json")["esid"]

    with yitong_service(tmp_path / "seal-home", before_serve=a_seal_for_the_idp_s_client, **extra) as (
            seal_base, _env, esid):
        bearer = token(idp, "granted")  # from the IdP, for the audience the seal API was given
        status, headers, body = sign({"base": seal_base}, esid, bearer)
        assert status == 200 and headers["Content-Type"] == "application/pdf", body[:300]
        revoked = token(idp, "granted")
        _revoke(idp, "granted", revoked)
        problem, _ = assert_problem(sign({"base": seal_base}, esid, revoked), 401, "invalid_token")
        assert "introspection" in problem["detail"]
