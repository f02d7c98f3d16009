#!/usr/bin/env python3
"""The Koji hub fixture's hub application (Koji's own code, the fixture's
database and hub.conf) served again over TLS that asks for a client
certificate, with the SSL_CLIENT_* variables Apache's mod_ssl sets for a
verified certificate: so that `sslLogin` can be tested against Koji's own
code. The fixture serves plain HTTP and passwords only.

usage: tls-hub.py FIXTURE_DIR HUB_WORKDIR SERVER_CERT SERVER_KEY CLIENT_CA PORT_FILE

Writes the port to PORT_FILE once it listens (on 127.0.0.1, any free port)."""
import os
import ssl
import sys

fixture, workdir, cert, key, client_ca, port_file = sys.argv[1:7]
sys.path.insert(0, fixture)
import hubserver  # noqa: E402  (LimitedInput, ThreadingWSGIServer, QuietHandler, hub_app)
from wsgiref.simple_server import make_server  # noqa: E402

CONFIG = os.path.join(workdir, 'etc', 'hub.conf')
CONFIG_DIR = os.path.join(workdir, 'etc', 'hub.conf.d')


class TlsHandler(hubserver.QuietHandler):
    def get_environ(self):
        env = super().get_environ()
        peer = self.connection.getpeercert()
        if peer:
            # what mod_ssl exports for a client certificate it verified
            parts = [kv for rdn in peer.get('subject', ()) for kv in rdn]
            names = {'commonName': 'CN', 'organizationName': 'O', 'countryName': 'C'}
            env['SSL_CLIENT_VERIFY'] = 'SUCCESS'
            env['SSL_CLIENT_S_DN'] = '/' + '/'.join(
                '%s=%s' % (names.get(k, k), v) for k, v in parts)
            for k, v in parts:
                if k in names:
                    env['SSL_CLIENT_S_DN_' + names[k]] = v
        else:
            env['SSL_CLIENT_VERIFY'] = 'NONE'
        return env


def app(environ, start_response):
    environ['koji.hub.ConfigFile'] = CONFIG
    environ['koji.hub.ConfigDir'] = CONFIG_DIR
    try:
        length = int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    environ['wsgi.input'] = hubserver.LimitedInput(environ['wsgi.input'], length)
    return hubserver.hub_app(environ, start_response)


def main():
    server = make_server('127.0.0.1', 0, app, server_class=hubserver.ThreadingWSGIServer,
                         handler_class=TlsHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d\n' % server.server_address[1])
    os.rename(tmp, port_file)
    server.serve_forever()


if __name__ == '__main__':
    main()
