"""A real SMTP server for the tests (aiosmtpd), on 127.0.0.1:PORT.

It requires AUTH (PLAIN/LOGIN with USER and PASSWORD; allowed without TLS in mode "none", on
loopback), and
writes each message it accepts to OUTDIR as JSON: envelope recipients, the parsed headers, and
the decoded text and HTML parts (Python's own MIME parser, not ours). Prints "ready" once it
accepts connections; runs until its standard input closes.

MODE is "none" (plain), "starttls" (STARTTLS required before anything else) or "tls" (TLS from
the first byte); the TLS modes use CERT and KEY (PEM files).

usage: smtp_sink.py PORT OUTDIR USER PASSWORD [MODE CERT KEY]
"""

import email
import email.policy
import json
import logging
import os
import ssl
import sys
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated_as": session.auth_data.login.decode() if session.auth_data else None,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }
        path = os.path.join(self.outdir, f"{uuid.uuid4()}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def main():
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    port, outdir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    mode = sys.argv[5] if len(sys.argv) > 5 else "none"
    tls = {}
    if mode != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[6], sys.argv[7])
        tls = (
            {"tls_context": context, "require_starttls": True}
            if mode == "starttls"
            else {"ssl_context": context}
        )
    controller = Controller(
        Sink(outdir),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=mode == "starttls",
        **tls,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
