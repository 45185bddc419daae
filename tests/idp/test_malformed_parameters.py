"""Characters an OAuth error description cannot hold (RFC 6749 §4.1.2.1), in the parameters an
error would quote, are invalid_request — never a 500, never echoed (issue 12 item 13)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.idp.support import ISSUER, REDIRECT, make_idp, pkce_pair

# The probe's characters: quote, backslash, NUL, DEL, a non-ASCII letter, a newline.
CHARACTERS = ['"', "\\", "\x00", "\x7f", "é", "\n"]
IDS = ["quote", "backslash", "nul", "del", "e-acute", "newline"]
MARK = "zq9-marker"  # part of every malformed value: the answer must not echo it


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def portal(idp):
    return idp.client()


def authorize(web, client_id, **params):
    _, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
             "state": "st-7", "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return web.get("/authorize?" + urlencode(query))


def error_page_without_the_value(response) -> bool:
    """The HTML error page, whose message does not quote the value (the page's own language link
    carries the request's URL, percent-encoded, as on every page)."""
    page = response.get_data(as_text=True)
    message = page.split('role="alert"')[1].split("</p>")[0] if 'role="alert"' in page else ""
    technical = page.split('id="error-technical"')[1].split("</details>")[0] if "error-technical" in page else ""
    plain = "不完整或有误" in message or "返回地址未登记" in message  # idp/words.py, never the raw value
    return (response.status_code == 400 and "Location" not in response.headers and plain
            and "<code" in technical and technical.split("<code")[1].split(">", 1)[1].startswith("invalid_request")
            and MARK not in message + technical)


def redirected_invalid_request(response) -> dict:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?") and MARK not in location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["error"] == "invalid_request" and params["state"] == "st-7" and params["iss"] == ISSUER
    return params


@pytest.mark.parametrize("char", CHARACTERS, ids=IDS)
def test_a_malformed_redirect_uri_at_authorize_is_an_error_page_never_a_redirect(idp, portal, char):
    client, _ = portal
    web = idp.app.test_client()
    assert error_page_without_the_value(authorize(web, client.client_id,
                                                  redirect_uri=f"http://{MARK}.example{char}@host/cb"))
    # the probe's example, for a client that does not exist either
    assert error_page_without_the_value(authorize(web, "no-such-client",
                                                  redirect_uri=f"http://{MARK}.example{char}@127.0.0.1:9000/cb"))


@pytest.mark.parametrize("char", CHARACTERS, ids=IDS)
def test_a_malformed_response_type_or_resource_at_authorize_is_invalid_request(idp, portal, char):
    client, _ = portal
    web = idp.app.test_client()
    redirected_invalid_request(authorize(web, client.client_id, response_type=f"code{char}{MARK}"))
    redirected_invalid_request(authorize(web, client.client_id, resource=f"{ISSUER}/seal{char}{MARK}"))
    # the redirect URI cannot be trusted when the client is unknown: the error page instead
    assert error_page_without_the_value(authorize(web, "no-such-client", response_type=f"code{char}{MARK}"))


@pytest.mark.parametrize("char", CHARACTERS, ids=IDS)
@pytest.mark.parametrize("name", ["redirect_uri", "response_type", "resource"])
def test_a_malformed_parameter_at_par_is_invalid_request(idp, portal, name, char):
    client, secret = portal
    _, challenge = pkce_pair()
    form = {"client_id": client.client_id, "client_secret": secret, "response_type": "code",
            "redirect_uri": REDIRECT, "scope": "openid", "code_challenge": challenge,
            "code_challenge_method": "S256", name: f"http://{MARK}{char}/x"}
    refused = idp.app.test_client().post("/par", data=form)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"
    assert MARK not in refused.get_data(as_text=True)


@pytest.mark.parametrize("char", CHARACTERS, ids=IDS)
def test_a_malformed_resource_at_the_token_endpoint_is_invalid_request(idp, char):
    client, secret = idp.client(grants=("client_credentials",), scope="openid")
    refused = idp.app.test_client().post("/token", data={
        "grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret,
        "resource": f"{ISSUER}/seal{char}{MARK}"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"
    assert MARK not in refused.get_data(as_text=True)


def test_a_nul_in_client_id_is_an_unknown_client_on_every_database(idp):
    web = idp.app.test_client()
    page = authorize(web, "portal\x00", response_type="code")
    assert page.status_code == 400 and "Location" not in page.headers
    refused = web.post("/token", data={"grant_type": "client_credentials", "client_id": "portal\x00",
                                       "client_secret": "guess"})
    assert refused.status_code in (400, 401) and refused.get_json()["error"] == "invalid_client"
    basic = web.post("/token", data={"grant_type": "client_credentials"}, auth=("portal\x00", "guess"))
    assert basic.status_code == 401 and basic.get_json()["error"] == "invalid_client"


def test_well_formed_values_still_get_their_own_errors(idp, portal):
    client, _ = portal
    web = idp.app.test_client()
    unknown = authorize(web, client.client_id, redirect_uri="https://other.example/cb")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    unsupported = authorize(web, client.client_id, response_type="token")
    assert unsupported.status_code == 302
    assert parse_qs(urlsplit(unsupported.headers["Location"]).query)["error"] == ["unsupported_response_type"]
