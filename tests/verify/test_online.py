"""--online: CRL/OCSP named in the certificates are fetched (and only then), and become evidence.

A revocation service that cannot be reached, refuses, answers garbage or has the wrong responder
sign makes the revocation status INDETERMINATE/TRY_LATER with the reason: never a silent pass.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from keys.keystore import Keystore, MasterKey
from keys.pki.authority import Pki
from keys.pki.ocsp import OcspResponder, Responder
from tests.helpers import free_port, run_yitong
from tests.verify.support import Identity, base_pdf, sign
from verify import INDETERMINATE, TOTAL_PASSED, TrustBundle, verify_pdf
from yitong import db


@pytest.fixture
def pki_server(world):
    """A stand-in for our /pki/ endpoints, answering from the world's CA database."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith("/pki/crl/") and self.path.endswith(".crl"):
                return self._answer(world.pki.crl(self.path[len("/pki/crl/"):-4]), "application/pkix-crl")
            if self.path.startswith("/pki/ca/") and self.path.endswith(".crt"):
                return self._answer(world.pki.ca_certificate(self.path[len("/pki/ca/"):-4]).dump(),
                                    "application/pkix-cert")
            self.send_response(404)
            self.end_headers()
            return None

        def do_POST(self):
            hits.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self._answer(world.pki.ocsp_responder().respond(body), "application/ocsp-response")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pki", hits
    server.shutdown()
    server.server_close()


def test_online_fetches_the_revocation_that_offline_cannot_see(world, pki_server, tmp_path):
    base, hits = pki_server
    pki = Pki(world.engine, world.keystore, base, tmp_path / "pki")  # same CAs, URLs pointing at the server
    record = world.keystore.generate("seal", "p256", owner="verify-online")
    issued = pki.issue("seal", kid=record.kid, subject="CN=Online Seal,O=Online Org,C=CN")
    who = Identity(world.keystore.private_key(record.kid), issued.certificate, [pki.ca_certificate(issued.ca)],
                   issued.ca)
    data = world.sign(base_pdf(), who)
    # Revocation times have one-second resolution: revoked strictly after the claimed signing time.
    pki.revoke(issued.ca, issued.serial, "keyCompromise", at=datetime.now(UTC) + timedelta(seconds=2))

    offline = verify_pdf(data, world.trust)
    assert offline.indication == (TOTAL_PASSED, None) and hits == []

    online = verify_pdf(data, world.trust, online=True)
    assert hits, "nothing was fetched"
    assert online.indication == (INDETERMINATE, "REVOKED_NO_POE")
    assert any(e["source"] == "fetched" for e in online.signatures[0].evidence)


# -- a PKI whose every URL (CAs' too) points at a stand-in whose behaviour each test chooses ---------------
@dataclass
class ServedPki:
    pki: Pki
    trust: TrustBundle
    behaviour: str = "answer"
    hits: list[str] = field(default_factory=list)

    def seal(self, algorithm: str) -> bytes:
        record = self.pki.keystore.generate("seal", algorithm, owner=f"served-{algorithm}")
        issued = self.pki.issue("seal", kid=record.kid, subject=f"CN=Served {algorithm} Seal,O=Served Org,C=CN")
        who = Identity(self.pki.keystore.private_key(record.kid), issued.certificate,
                       [self.pki.ca_certificate(issued.ca)], issued.ca)
        return sign(base_pdf(), who)

    def ocsp_signed_by_a_seal_certificate(self, request: bytes) -> bytes:
        """A response signed by a certificate the CA issued for sealing, not for OCSP: a wrong responder."""
        record = self.pki.keystore.generate("seal", "p256", owner="not-a-responder")
        issued = self.pki.issue("seal", kid=record.kid, subject="CN=Not A Responder,O=Served Org,C=CN")
        key = self.pki.keystore.private_key(record.kid)
        responders = [Responder(ca, self.pki.ca_certificate(ca), key, issued.certificate)
                      for ca in self.pki.ca_names()]
        return OcspResponder(responders, self.pki.status).respond(request)


def _stand_in(served: ServedPki):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _misbehave(self) -> bool:
            if served.behaviour == "forbidden":
                self._answer(403, b"forbidden", "text/plain")
            elif served.behaviour == "server-error":
                self._answer(500, b"oops", "text/plain")
            elif served.behaviour == "another-service":  # what answered on :8000 in the issue
                self._answer(200, b"<html><body>Welcome to another service</body></html>", "text/html")
            else:
                return False
            return True

        def do_GET(self):
            served.hits.append(self.path)
            if self._misbehave():
                return
            if served.behaviour == "answer" and self.path.startswith("/pki/crl/") and self.path.endswith(".crl"):
                self._answer(200, served.pki.crl(self.path[len("/pki/crl/"):-4]), "application/pkix-crl")
            else:
                self._answer(404, b"not found", "text/plain")

        def do_POST(self):
            served.hits.append(self.path)
            if self._misbehave():
                return
            request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if served.behaviour == "wrong-responder":
                body = served.ocsp_signed_by_a_seal_certificate(request)
            elif served.behaviour == "unauthorized":  # RFC 6960 §2.3: a responder that does not serve these CAs
                body = bytes.fromhex("30030a0106")
            else:
                body = served.pki.ocsp_responder().respond(request)
            self._answer(200, body, "application/ocsp-response")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def served(tmp_path_factory, _sqlite_template) -> ServedPki:
    tmp = tmp_path_factory.mktemp("served-pki")
    shutil.copyfile(_sqlite_template, tmp / "pki.db")
    engine = db.make_engine(make_url(f"sqlite:///{tmp / 'pki.db'}"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    pki = Pki(engine, Keystore.open(engine, MasterKey.generate()), f"http://127.0.0.1:{server.server_address[1]}/pki",
              tmp / "pki")
    pki.init(("sm2", "p256"))
    state = ServedPki(pki, TrustBundle.from_bytes(pki.trust_bundle(), "served trust bundle"))
    server.RequestHandlerClass = _stand_in(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()
    engine.dispose()


@pytest.fixture
def behaving(served):
    def choose(behaviour: str) -> ServedPki:
        served.behaviour = behaviour
        served.hits.clear()
        return served

    yield choose
    served.behaviour = "answer"


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_online_passes_on_what_the_revocation_services_answered(behaving, algorithm):
    served = behaving("answer")
    report = verify_pdf(served.seal(algorithm), served.trust, online=True)
    assert report.indication == (TOTAL_PASSED, None), report.signatures[0].steps
    assert served.hits
    assert any(e["source"] == "fetched" for e in report.signatures[0].evidence)
    assert "failed" not in report.signatures[0].step("revocation").reason


@pytest.mark.parametrize(("behaviour", "said"), [
    ("forbidden", "403"), ("server-error", "500"), ("another-service", "Failed to parse response from OCSP server"),
    ("wrong-responder", "not signed by a known CA or its responder"), ("unauthorized", "'unauthorized'")])
def test_online_revocation_services_that_do_not_answer_properly_are_try_later(behaving, behaviour, said):
    served = behaving(behaviour)
    data = served.seal("p256")
    report = verify_pdf(data, served.trust, online=True)
    assert served.hits, "nothing was fetched"
    assert report.indication == (INDETERMINATE, "TRY_LATER")
    signature = report.signatures[0]
    step = signature.step("revocation")
    assert not step.passed and "Served p256 Seal" in step.reason and "could not be checked" in step.reason
    assert said in " ".join([step.reason, *signature.warnings])
    assert verify_pdf(data, served.trust).indication == (TOTAL_PASSED, None)  # offline says what it always said


def test_verify_online_reports_unreachable_revocation_services_and_exits_3(world, yitong_env, tmp_path):
    """The issue's case: the seal's CRL/OCSP URLs name a port where nothing (of ours) answers."""
    nobody = f"http://127.0.0.1:{free_port()}/pki"
    pki = Pki(world.engine, world.keystore, nobody, tmp_path / "pki")
    record = world.keystore.generate("seal", "sm2", owner="verify-online-unreachable")
    issued = pki.issue("seal", kid=record.kid, subject="CN=Unreachable Seal,O=Online Org,C=CN")
    who = Identity(world.keystore.private_key(record.kid), issued.certificate, [pki.ca_certificate(issued.ca)],
                   issued.ca)
    document, bundle = Path(tmp_path / "sealed.pdf"), Path(tmp_path / "trust.pem")
    document.write_bytes(world.sign(base_pdf(), who))
    bundle.write_bytes(world.pki.trust_bundle())

    offline = run_yitong(["verify", str(document), "--trust", str(bundle)], yitong_env)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    online = run_yitong(["verify", str(document), "--trust", str(bundle), "--online"], yitong_env)
    assert online.returncode == 3, online.stdout + online.stderr
    text = online.stdout.decode()
    assert "TRY_LATER" in text and f"{nobody}/ocsp" in text
