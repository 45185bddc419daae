"""--online: CRL/OCSP named in the certificates are fetched (and only then), and become evidence."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keys.pki.authority import Pki
from tests.verify.support import Identity, base_pdf
from verify import INDETERMINATE, TOTAL_PASSED, verify_pdf


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
    time.sleep(1.1)  # revocation times have one-second resolution: revoke strictly after the claimed signing time
    pki.revoke(issued.ca, issued.serial, "keyCompromise")

    offline = verify_pdf(data, world.trust)
    assert offline.indication == (TOTAL_PASSED, None) and hits == []

    online = verify_pdf(data, world.trust, online=True)
    assert hits, "nothing was fetched"
    assert online.indication == (INDETERMINATE, "REVOKED_NO_POE")
    assert any(e["source"] == "fetched" for e in online.signatures[0].evidence)
