"""A tiny real reverse proxy for tests: ``python forwarding_proxy.py LISTEN_PORT UPSTREAM_PORT SOURCE_IP``.

It listens on 127.0.0.1:LISTEN_PORT, forwards every request to 127.0.0.1:UPSTREAM_PORT from the
address SOURCE_IP (so the app sees this proxy's own address as the peer), appends the client's
address to ``X-Forwarded-For`` as nginx's ``$proxy_add_x_forwarded_for`` does, and relays the
answer unchanged (redirects are not followed, every Set-Cookie is kept).
"""

from __future__ import annotations

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def main() -> None:
    listen_port, upstream_port, source_ip = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    class Forwarder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"x-forwarded-for"}}
            earlier = self.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{earlier}, {self.client_address[0]}" if earlier else self.client_address[0]
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60,
                                                  source_address=(source_ip, 0))
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            upstream.close()

        do_GET = do_POST = do_HEAD = _forward

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", listen_port), Forwarder)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
