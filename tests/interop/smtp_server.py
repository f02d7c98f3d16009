"""A real SMTP server for the notification tests: aiosmtpd (PyPI) with
STARTTLS required and AUTH required over TLS. Each accepted message is
appended to OUT as one JSON line: from, to, data (the whole message), and
whether the session was encrypted and authenticated.

usage: smtp_server.py PORT CERT KEY USER PASSWORD OUT
Prints "ready" when it accepts connections; runs until killed.
"""
import json
import ssl
import sys
import logging
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd logs a warning about its own use of a deprecated attribute.
logging.getLogger("mail.log").setLevel(logging.ERROR)
port, cert, key, user, password, out = sys.argv[1:7]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
