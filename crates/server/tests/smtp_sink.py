"""A real SMTP server for the integration tests (aiosmtpd).

Listens on 127.0.0.1 (the given port, or a free one), writes the port it
got to --port-file, and writes every message it accepts as a JSON file in
--dir (envelope, raw data, decoded subject, text and HTML parts). Every
MAIL/RCPT it is sent is also appended to --dir/conversation.log, accepted or
not, so a test can check what reached the SMTP conversation.

Modes: plain; starttls (STARTTLS required before MAIL, with --cert/--key);
stall (accepts the TCP connection and then says nothing, ever).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import time
import uuid

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory

    def log(self, line):
        with open(os.path.join(self.directory, "conversation.log"), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.log("MAIL FROM:" + address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.log("RCPT TO:" + address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)

        def part(subtype):
            body = message.get_body(preferencelist=(subtype,))
            return body.get_content() if body is not None else None

        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "raw": raw.decode("utf-8", "replace"),
            "subject": str(message["subject"]),
            "to": str(message["to"]),
            "message_id": str(message["message-id"]),
            "content_type": message.get_content_type(),
            "text": part("plain"),
            "html": part("html"),
            "received_at": time.time(),
        }
        name = "%d-%s" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"


async def stall(reader, writer):
    # Holds the connection open and never greets.
    await asyncio.Event().wait()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=["plain", "starttls", "stall"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    loop = asyncio.get_running_loop()
    if args.mode == "stall":
        server = await asyncio.start_server(stall, "127.0.0.1", args.port, reuse_address=True)
    else:
        handler = Sink(args.dir)
        context = None
        if args.mode == "starttls":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.cert, args.key)
        factory = lambda: SMTP(
            handler,
            hostname="sink.test",
            tls_context=context,
            require_starttls=context is not None,
        )
        server = await loop.create_server(factory, "127.0.0.1", args.port, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, args.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
