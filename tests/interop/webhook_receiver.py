"""A webhook receiver for the notification tests: checks each POST's
X-Slipway-Signature-256 (HMAC-SHA256 of the body with SECRET) and appends
one JSON line to OUT per request: valid (bool), event, delivery, body.
The first FAIL_FIRST valid requests are answered 503, to make the sender
retry; invalid signatures get 401.

usage: webhook_receiver.py PORT SECRET OUT FAIL_FIRST
Prints "ready" when it accepts connections; runs until killed.
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, secret, out, fail_first = sys.argv[1:5]
state = {"to_fail": int(fail_first)}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        given = self.headers.get("X-Slipway-Signature-256", "")
        valid = hmac.compare_digest(expected, given)
        status = 200
        if not valid:
            status = 401
        elif state["to_fail"] > 0:
            state["to_fail"] -= 1
            status = 503
        with open(out, "a") as f:
            f.write(
                json.dumps(
                    {
                        "valid": valid,
                        "status": status,
                        "event": self.headers.get("X-Slipway-Event"),
                        "delivery": self.headers.get("X-Slipway-Delivery"),
                        "body": json.loads(body) if valid else None,
                    }
                )
                + "\n"
            )
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(port)), Receiver)
print("ready", flush=True)
server.serve_forever()
