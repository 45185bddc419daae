"""The seal API over HTTP against the running service: the IdP issues real tokens, the seal
resource server checks them through discovery, JWKS and introspection (handed in process to the
same server's IdP; tests/seal/test_idp_gateway.py covers the network path)."""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.helpers import run_yitong
from tests.seal.pdfs import make_pdf
from tests.seal.service import yitong_service
from tests.seal.support import ORG_NAME, ORG_USCC, validate_all

pytestmark = pytest.mark.e2e
REDIRECT = "http://127.0.0.1:9/callback"
PASSWORD = "Tianjin-2026-correct"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(method: str, url: str, *, body: bytes | None = None, headers: dict | None = None, opener=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener(_NoRedirect)).open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def cli(env, *args, input: bytes | None = None) -> dict:
    done = run_yitong(list(args), env, input=input)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def client(env, *scopes, grants=("client_credentials",), redirect=False) -> dict:
    args = ["client", "create", "--name", "biz", "--json", "--scope", " ".join(scopes)]
    for grant in grants:
        args += ["--grant", grant]
    if redirect:
        args += ["--redirect-uri", REDIRECT]
    return cli(env, *args)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seal-api")
    home = tmp / "home"
    extra = {"YITONG_SEAL_MAX_BYTES": "300000"}

    def before_serve(env):
        rs = client(env, "seal:read")  # the seal resource server's own credentials, for introspection
        env.update(YITONG_SEAL_CLIENT_ID=rs["client_id"], YITONG_SEAL_CLIENT_SECRET=rs["client_secret"])
        state = {"granted": client(env, "seal:read", "seal:sign"), "other": client(env, "seal:read", "seal:sign"),
                 "reader": client(env, "seal:read"),
                 "portal": client(env, "openid", "seal:read", "seal:sign", grants=("authorization_code",),
                                  redirect=True)}
        user = cli(env, "user", "create", "--username", "zhangsan", "--name", "张三", "--password-stdin", "--json",
                   input=PASSWORD.encode() + b"\n")
        state["sub"] = user["sub"]
        org_seal = cli(env, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
                       ORG_NAME, "--type", "04", "--grant-client", state["granted"]["client_id"], "--json")
        person_seal = cli(env, "seal", "create", "--holder-kind", "person", "--holder-id", user["sub"],
                          "--holder-name", "张三", "--type", "05", "--grant-client", state["portal"]["client_id"],
                          "--json")
        state.update(org=org_seal["esid"], person=person_seal["esid"])
        return state

    with yitong_service(home, before_serve=before_serve, **extra) as (base, env, state):
        yield {"base": base, "env": env, "tmp": tmp, **state}


def token(api, who: str, *, resource: str | None = "seal", scope: str | None = None) -> str:
    creds = api[who]
    form = {"grant_type": "client_credentials"}
    if resource:
        form["resource"] = f"{api['base']}/{resource}"
    if scope:
        form["scope"] = scope
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, _, body = call("POST", api["base"] + "/token", body=urllib.parse.urlencode(form).encode(),
                           headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


def person_token(api, *, username: str = "zhangsan", portal: dict | None = None,
                 scope: str = "openid seal:read seal:sign", org: str | None = None, totp=None,
                 acr_values: str | None = None, resource: str = "seal") -> str:
    """A person through the real login form, the second factor (``totp``: a pyotp.TOTP, when the
    person has one), consent (and, with ``org``, the organisation chooser) and the code exchange;
    zhangsan is urn:yitong:loa:1 unless a test raises him."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    base, portal = api["base"], portal or api["portal"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": portal["client_id"],
                                    "redirect_uri": REDIRECT, "scope": scope,
                                    "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
                                    "resource": f"{base}/{resource}",
                                    **({"acr_values": acr_values} if acr_values else {})})
    authorize = f"/authorize?{query}"
    _, _, page = call("GET", f"{base}/login?" + urllib.parse.urlencode({"return_to": authorize}), opener=opener)
    csrf = page.decode().split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "return_to": authorize, "login": username, "password": PASSWORD}
    status, headers, _ = call("POST", f"{base}/login", body=urllib.parse.urlencode(form).encode(), opener=opener,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status in (302, 303), status
    if headers["Location"] == "/login/mfa":  # the second factor (RFC 6238 TOTP)
        assert totp is not None, "/login/mfa was shown"
        _, _, page = call("GET", f"{base}/login/mfa", opener=opener)
        csrf = page.decode().split('name="csrf" value="')[1].split('"')[0]
        status, headers, _ = call("POST", f"{base}/login/mfa", opener=opener,
                                  body=urllib.parse.urlencode({"csrf": csrf, "code": totp.now()}).encode(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status in (302, 303), status
    status, headers, page = call("GET", urllib.parse.urljoin(base, headers["Location"]), opener=opener)
    for action, field, value in (("/consent", "decision", "allow"), ("/authorize/organisation", "org", org)):
        if status == 200 and f'action="{action}"'.encode() in page:
            assert value is not None, f"{action} was shown"
            text = page.decode()
            csrf = text.split('name="csrf" value="')[1].split('"')[0]
            return_to = text.split('name="return_to" value="')[1].split('"')[0].replace("&amp;", "&")
            status, headers, _ = call("POST", f"{base}{action}", opener=opener,
                                      body=urllib.parse.urlencode({"csrf": csrf, "return_to": return_to,
                                                                   field: value}).encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            status, headers, page = call("GET", urllib.parse.urljoin(base, headers["Location"]), opener=opener)
    assert status == 302 and headers["Location"].startswith(REDIRECT), (status, page[:300])
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{portal['client_id']}:{portal['client_secret']}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "resource": f"{base}/{resource}"}
    status, _, body = call("POST", f"{base}/token", body=urllib.parse.urlencode(form).encode(),
                           headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


def sign(api, esid: str, bearer: str | None, pdf: bytes | None = None, content_type: str = "application/pdf",
         **params):
    headers = {"Content-Type": content_type}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    query = urllib.parse.urlencode(params)
    return call("POST", f"{api['base']}/seal/seals/{esid}/sign?{query}", body=make_pdf(1) if pdf is None else pdf,
                headers=headers)


def usage_count(api) -> int:
    from sqlalchemy import create_engine, func, select

    from seal.models import usage_table

    engine = create_engine(f"sqlite:///{api['tmp'] / 'home' / 'yitong.db'}")
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(usage_table)).scalar()
    engine.dispose()
    return count


def assert_problem(response, status: int, kind: str | None = None):
    code, headers, body = response
    assert code == status, body[:500]
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    if kind:
        assert problem["type"].endswith(kind), problem
    return problem, headers


def test_openapi_is_3_1(api):
    status, _, body = call("GET", api["base"] + "/seal/openapi.json")
    document = json.loads(body)
    assert status == 200 and document["openapi"] == "3.1.0"
    assert "/seals/{esid}/sign" in document["paths"] and "oauth2" in document["components"]["securitySchemes"]


def test_granted_client_seals_and_the_use_is_logged(api):
    before = usage_count(api)
    status, headers, body = sign(api, api["org"], token(api, "granted"), page=1, x_mm=150, y_mm=230)
    assert status == 200 and headers["Content-Type"] == "application/pdf", body[:300]
    trust = api["tmp"] / "trust.pem"
    trust.write_bytes(call("GET", api["base"] + "/pki/trust.pem")[2])
    [result] = validate_all(body, trust, hard_fail=True)
    assert result.bottom_line, result.pretty_print_details()
    assert usage_count(api) == before + 1
    # reading: the granted client sees the seal, its image and .esl
    bearer = {"Authorization": f"Bearer {token(api, 'granted')}"}
    listed = json.loads(call("GET", api["base"] + "/seal/seals", headers=bearer)[2])["seals"]
    assert [s["esid"] for s in listed] == [api["org"]]
    status, headers, png = call("GET", f"{api['base']}/seal/seals/{api['org']}/image.png", headers=bearer)
    assert status == 200 and png.startswith(b"\x89PNG")
    from keys import ses

    status, _, esl = call("GET", f"{api['base']}/seal/seals/{api['org']}/esl", headers=bearer)
    assert status == 200 and ses.parse_seal(esl).es_id == api["org"]


def test_refusals_are_problems_and_no_use(api):
    before = usage_count(api)
    problem, headers = assert_problem(sign(api, api["org"], None), 401)
    assert headers["WWW-Authenticate"].startswith("Bearer")
    problem, headers = assert_problem(sign(api, api["org"], token(api, "granted", resource=None)), 401,
                                      "invalid_token")
    assert "audience" in problem["detail"]
    problem, headers = assert_problem(sign(api, api["org"], token(api, "reader")), 403, "insufficient_scope")
    assert 'scope="seal:sign"' in headers["WWW-Authenticate"]
    assert_problem(sign(api, api["org"], token(api, "other")), 403, "not-granted")
    assert_problem(sign(api, "12000099999999", token(api, "granted")), 404, "seal-not-found")
    assert_problem(sign(api, "not-an-esid", token(api, "granted")), 400, "bad-esid")
    good = token(api, "granted")
    assert_problem(sign(api, api["org"], good, pdf=b"not a pdf at all"), 415, "not-a-pdf")
    assert_problem(sign(api, api["org"], good, pdf=make_pdf(1)[:400]), 422, "broken-pdf")
    assert_problem(sign(api, api["org"], good, page=5), 422, "page-out-of-range")
    assert_problem(sign(api, api["org"], good, keyword="（盖章）"), 422, "keyword-not-found")
    assert_problem(sign(api, api["org"], good, x_mm="NaN"), 400, "bad-parameter")
    assert_problem(sign(api, api["org"], good, level="B-LTA"), 400, "bad-level")
    assert_problem(sign(api, api["org"], good, pdf=make_pdf(1) + b"%" * 400_000), 413, "too-large")
    assert usage_count(api) == before


def test_suspended_seal_is_refused_then_works_again(api):
    env = api["env"]
    bearer = token(api, "granted")
    cli(env, "seal", "suspend", api["org"], "--reason", "挂失", "--json")
    before = usage_count(api)
    assert_problem(sign(api, api["org"], bearer), 409, "seal-not-active")
    assert usage_count(api) == before
    cli(env, "seal", "resume", api["org"], "--reason", "找回", "--json")
    assert sign(api, api["org"], bearer)[0] == 200


def test_revoked_token_is_refused_by_introspection(api):
    creds = api["granted"]
    bearer = token(api, "granted")
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, _, _ = call("POST", api["base"] + "/revoke", body=urllib.parse.urlencode({"token": bearer}).encode(),
                        headers={"Authorization": f"Basic {basic}",
                                 "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    before = usage_count(api)
    problem, _ = assert_problem(sign(api, api["org"], bearer), 401, "invalid_token")
    assert "introspection" in problem["detail"]
    assert usage_count(api) == before
    # reads are decided offline on the JWT: still fine for its remaining minutes
    status, _, _ = call("GET", f"{api['base']}/seal/seals/{api['org']}", headers={"Authorization": f"Bearer {bearer}"})
    assert status == 200


def test_personal_seal_needs_loa3_step_up(api):
    bearer = person_token(api)
    before = usage_count(api)
    _, headers = assert_problem(sign(api, api["person"], bearer), 401, "insufficient-acr")
    challenge = headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge and 'acr_values="urn:yitong:loa:3"' in challenge
    assert usage_count(api) == before
    # The holder reads the own seal's usage log; a business client may not.
    status, _, body = call("GET", f"{api['base']}/seal/seals/{api['person']}/usage",
                           headers={"Authorization": f"Bearer {bearer}"})
    assert status == 200 and json.loads(body)["usage"] == []
    assert_problem(call("GET", f"{api['base']}/seal/seals/{api['org']}/usage",
                        headers={"Authorization": f"Bearer {token(api, 'granted')}"}), 403, "not-holder")


def multipart(files: list[tuple[str, bytes]], fields: dict) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                     f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_batch_job_with_progress(api):
    import time

    bearer = token(api, "granted")
    before = usage_count(api)
    body, ctype = multipart([("a.pdf", make_pdf(1, tag="job-a")), ("bad.pdf", b"not a pdf"),
                             ("c.pdf", make_pdf(2, tag="job-c"))], {"level": "B-T", "pages": "all"})
    status, headers, answer = call("POST", f"{api['base']}/seal/seals/{api['org']}/jobs", body=body,
                                   headers={"Authorization": f"Bearer {bearer}", "Content-Type": ctype})
    assert status == 202, answer
    job = json.loads(answer)
    assert job["total"] == 3 and headers["Location"].endswith(job["job_id"])
    auth = {"Authorization": f"Bearer {bearer}"}
    deadline = time.monotonic() + 60
    while True:
        state = json.loads(call("GET", f"{api['base']}/seal/jobs/{job['job_id']}", headers=auth)[2])
        if state["status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (state["status"], state["done"], state["failed"]) == ("done", 3, 1)
    assert [d["status"] for d in state["documents"]] == ["sealed", "refused", "sealed"]
    status, _, sealed = call("GET", f"{api['base']}/seal/jobs/{job['job_id']}/documents/2", headers=auth)
    assert status == 200
    trust = api["tmp"] / "trust-job.pem"
    trust.write_bytes(call("GET", api["base"] + "/pki/trust.pem")[2])
    [result] = validate_all(sealed, trust, hard_fail=False)
    assert result.bottom_line and result.timestamp_validity is not None
    assert_problem(call("GET", f"{api['base']}/seal/jobs/{job['job_id']}/documents/1", headers=auth), 422,
                   "refused")
    assert usage_count(api) == before + 2
    # another client does not see the job
    other = {"Authorization": f"Bearer {token(api, 'other')}"}
    assert_problem(call("GET", f"{api['base']}/seal/jobs/{job['job_id']}", headers=other), 404, "job-not-found")
    # a client without the grant cannot start one
    assert_problem(call("POST", f"{api['base']}/seal/seals/{api['org']}/jobs", body=body,
                        headers={**other, "Content-Type": ctype}), 403, "not-granted")


def test_applying_for_a_seal_needs_a_real_name_person(api):
    body = json.dumps({"holder_kind": "person", "type": 5}).encode()
    headers = {"Content-Type": "application/json"}
    assert_problem(call("POST", f"{api['base']}/seal/seals", body=body,
                        headers={**headers, "Authorization": f"Bearer {token(api, 'granted')}"}), 403,
                   "person-required")
    _, challenge = assert_problem(call("POST", f"{api['base']}/seal/seals", body=body,
                                       headers={**headers, "Authorization": f"Bearer {person_token(api)}"}),
                                  401, "insufficient-acr")
    assert 'acr_values="urn:yitong:loa:2"' in challenge["WWW-Authenticate"]


def test_dpop_bound_token_needs_its_proof(api):
    from keys import jose
    from keys.asymmetric import generate_private_key
    from keys.dpop import proof_for

    key = generate_private_key("p256")
    jwk = jose.public_jwk(key.public_key(), use=None)
    creds = api["granted"]
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    form = {"grant_type": "client_credentials", "resource": f"{api['base']}/seal"}
    status, _, body = call("POST", api["base"] + "/token", body=urllib.parse.urlencode(form).encode(),
                           headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded",
                                    "DPoP": proof_for(key, jwk, "POST", api["base"] + "/token")})
    answer = json.loads(body)
    assert status == 200 and answer["token_type"] == "DPoP", answer
    access = answer["access_token"]
    url = f"{api['base']}/seal/seals/{api['org']}/sign"
    before = usage_count(api)
    # as a bearer token, or with a proof from another key: refused, nothing logged
    assert_problem(sign(api, api["org"], access), 401, "invalid_token")
    other = generate_private_key("p256")
    wrong = proof_for(other, jose.public_jwk(other.public_key(), use=None), "POST", url, access_token=access)
    assert_problem(call("POST", url, body=make_pdf(1), headers={
        "Content-Type": "application/pdf", "Authorization": f"DPoP {access}", "DPoP": wrong}), 401, "invalid_token")
    assert usage_count(api) == before
    proof = proof_for(key, jwk, "POST", url, access_token=access)
    status, _, sealed = call("POST", url, body=make_pdf(1), headers={
        "Content-Type": "application/pdf", "Authorization": f"DPoP {access}", "DPoP": proof})
    assert status == 200 and sealed.startswith(b"%PDF"), sealed[:300]
    # the same proof again is a replay
    assert_problem(call("POST", url, body=make_pdf(1), headers={
        "Content-Type": "application/pdf", "Authorization": f"DPoP {access}", "DPoP": proof}), 401,
        "invalid_dpop_proof")
    assert usage_count(api) == before + 1


def test_a_person_at_loa3_seals_with_their_personal_seal(api):
    """After an operator raises zhangsan to loa:3 and he has a second factor, the portal re-asks with
    the challenge's acr_values (RFC 9470), he signs in with password and TOTP code (loa:3 needs both),
    and the same request is allowed and logged."""
    import pyotp
    from sqlalchemy import update

    from idp.accounts.store import Accounts
    from idp.models import users_table
    from idp.security import new_secret
    from yitong.home import Home
    from yitong.settings import Settings

    assert run_yitong(["user", "set-level", api["sub"], "urn:yitong:loa:3", "--reason", "test: bank 4-factor"],
                      api["env"]).returncode == 0
    home = Home(Settings.from_env(api["env"]))
    secret = new_secret()
    Accounts(home.engine, home.keystore().custody.master).enrol_totp(api["sub"], secret)
    try:
        bearer = person_token(api, totp=pyotp.TOTP(secret), acr_values="urn:yitong:loa:3")
        before = usage_count(api)
        status, _, body = sign(api, api["person"], bearer)
        assert status == 200 and body.startswith(b"%PDF"), (status, body[:300])
        assert usage_count(api) == before + 1
    finally:  # zhangsan as the other tests know him: loa:1, password only
        with home.engine.begin() as conn:
            conn.execute(update(users_table).where(users_table.c.sub == api["sub"])
                         .values(totp_secret_wrapped=None, recovery_hashes=None))
        home.engine.dispose()
        assert run_yitong(["user", "set-level", api["sub"], "urn:yitong:loa:1", "--reason", "test: back to loa:1"],
                          api["env"]).returncode == 0


def test_the_legal_representative_acting_for_the_organisation_seals_with_its_seal(api):
    """The token contract end to end: a real-name person who represents the seal's holder signs in
    with scope org, picks the organisation, and the org claim lets them use its seal (no grant)."""
    from idp.accounts.store import Accounts
    from idp.identity import Identities, Organisations
    from yitong.home import Home
    from yitong.settings import Settings

    env = api["env"]
    rep = cli(env, "user", "create", "--username", "wangwu", "--password-stdin", "--json",
              input=f"{PASSWORD}\n".encode())
    home = Home(Settings.from_env(env))
    try:  # real name and the organisation, through the IdP's own services (their pages are tested in tests/idp)
        Identities(home.engine, home.keystore()).bind(rep["sub"], id_type="resident", name="王五",
                                                      id_number="11010519491231002X", trust_framework="test",
                                                      evidence={})
        Accounts(home.engine).set_level(rep["sub"], "urn:yitong:loa:2")
        Organisations(home.engine).register(uscc=ORG_USCC, name=ORG_NAME, legal_representative_sub=rep["sub"],
                                            acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="test",
                                            evidence={})
    finally:
        home.engine.dispose()
    portal = client(env, "openid", "org", "seal:read", "seal:sign", grants=("authorization_code",), redirect=True)
    bearer = person_token(api, username="wangwu", portal=portal, scope="openid org seal:read seal:sign",
                          org=ORG_USCC)
    claims = json.loads(base64.urlsafe_b64decode(bearer.split(".")[1] + "=="))
    assert claims["org"] == {"uscc": ORG_USCC, "name": ORG_NAME, "roles": ["legal_representative"],
                             "acting_as": True, "acr": "urn:yitong:loa:2"}
    before = usage_count(api)
    status, _, body = sign(api, api["org"], bearer)
    assert status == 200 and body.startswith(b"%PDF"), (status, body[:300])
    assert usage_count(api) == before + 1
    # The same person acting as themselves may not use the organisation's seal.
    own = person_token(api, username="wangwu", portal=portal, scope="openid org seal:read seal:sign", org="self")
    assert sign(api, api["org"], own)[0] == 403


def test_the_api_seals_an_ofd_by_its_content_and_logs_the_use(api):
    from tests.ofd.support import corpus_ofd
    from tests.seal.ofd_checks import check_sealed

    before = usage_count(api)
    good = token(api, "granted")
    ofd = corpus_ofd("ofdrw-helloworld-unsigned.ofd")
    for content_type in ("application/ofd", "application/octet-stream"):
        status, headers, body = sign(api, api["org"], good, pdf=ofd, content_type=content_type, keyword="OFD",
                                     riding="true")
        assert status == 200 and headers["Content-Type"] == "application/ofd", body[:300]
        [signature] = check_sealed(body).signatures
        assert len(signature.stamp_annots) == 2
    # the same bytes sent as "application/pdf" are still an OFD: the content decides
    status, headers, body = sign(api, api["org"], good, pdf=ofd)
    assert status == 200 and headers["Content-Type"] == "application/ofd"
    assert usage_count(api) == before + 3
    assert_problem(sign(api, api["org"], good, pdf=ofd[:300], content_type="application/ofd"), 422, "bad-ofd")
    assert_problem(sign(api, api["org"], good, pdf=ofd, content_type="application/ofd", keyword="没有"), 422,
                   "keyword-not-found")
    p256 = cli(api["env"], "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
               ORG_NAME, "--type", "06", "--algorithm", "p256", "--grant-client", api["granted"]["client_id"],
               "--json")["esid"]
    problem, _ = assert_problem(sign(api, p256, good, pdf=ofd, content_type="application/ofd"), 422, "ofd-needs-sm2")
    assert "SM2" in problem["detail"]
    assert usage_count(api) == before + 3
    from sqlalchemy import create_engine, select

    from seal.models import usage_table

    engine = create_engine(f"sqlite:///{api['tmp'] / 'home' / 'yitong.db'}")
    with engine.connect() as conn:
        last = conn.execute(select(usage_table.c.detail).order_by(usage_table.c.id.desc()).limit(1)).scalar()
    engine.dispose()
    assert (last["format"], last["level"], last["field"]) == ("ofd", "B-T", "Sign_0")


def test_a_batch_job_seals_ofd_and_pdf_side_by_side(api):
    import time

    from tests.ofd.support import corpus_ofd
    from tests.seal.ofd_checks import check_sealed

    bearer = {"Authorization": f"Bearer {token(api, 'granted')}"}
    body, ctype = multipart([("a.ofd", corpus_ofd("ofdrw-helloworld-unsigned.ofd")), ("b.pdf", make_pdf(1))],
                            {"level": "B-T"})
    status, _, answer = call("POST", f"{api['base']}/seal/seals/{api['org']}/jobs", body=body,
                             headers={**bearer, "Content-Type": ctype})
    assert status == 202, answer
    job = json.loads(answer)["job_id"]
    deadline = time.monotonic() + 60
    while (state := json.loads(call("GET", f"{api['base']}/seal/jobs/{job}", headers=bearer)[2]))["status"] != "done":
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert [d["status"] for d in state["documents"]] == ["sealed", "sealed"]
    status, headers, sealed = call("GET", f"{api['base']}/seal/jobs/{job}/documents/0", headers=bearer)
    assert status == 200 and headers["Content-Type"] == "application/ofd"
    check_sealed(sealed)
    status, headers, _ = call("GET", f"{api['base']}/seal/jobs/{job}/documents/1", headers=bearer)
    assert status == 200 and headers["Content-Type"] == "application/pdf"
