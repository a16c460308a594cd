"""SMTP sink on loopback that stores every message it accepts, as files.

Sink (the fixture) runs this module as a child process,
`/usr/bin/python3 -m harness.sink --dir DIR [--port N]`: an aiosmtpd server on
127.0.0.1 (kernel-chosen port unless --port, written to DIR/port once
listening). Each accepted message becomes DIR/mail/NNNNNN.eml (the DATA
exactly as received: CRLF line ends, dots unstuffed) and then NNNNNN.json
(mail_from, rcpt_tos, mail_options, rcpt_options, peer, helo, received_at,
size), each written to a temporary name and renamed: a message exists once its
.json does, and is complete then. Replies can be scripted through
DIR/rules.json, reread at every command so a test may change them while the
sink runs (Sink.set_rules): {"mail": {addr: reply}, "rcpt": {addr: reply},
"data": reply or null}; addresses match case-insensitively, "*" matches any.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import sys
import time

from . import cleanup
from .daemon import Daemon

kMailDir = "mail"
kRulesFile = "rules.json"
kPortFile = "port"


def _write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path)
                       + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


# --- the server (child process) ---------------------------------------------

class _Handler:
    def __init__(self, directory):
        self.dir = directory
        self.mail_dir = os.path.join(directory, kMailDir)
        os.makedirs(self.mail_dir, exist_ok=True)
        existing = [int(n[:6]) for n in os.listdir(self.mail_dir)
                    if n.endswith(".json") and n[:6].isdigit()]
        self.seq = max(existing, default=0)

    def _rules(self):
        try:
            with open(os.path.join(self.dir, kRulesFile)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _match(table, address):
        table = {k.lower(): v for k, v in (table or {}).items()}
        return table.get(address.lower(), table.get("*"))

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        reply = self._match(self._rules().get("mail"), address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self._match(self._rules().get("rcpt"), address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(list(rcpt_options))
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        reply = self._rules().get("data")
        if reply:
            return reply
        self.seq += 1
        name = f"{self.seq:06d}"
        raw = envelope.original_content
        meta = {
            "seq": self.seq,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "peer": list(session.peer[:2]) if session.peer else None,
            "helo": session.host_name,
            "received_at": time.time(),
            "size": len(raw),
        }
        _write_atomic(os.path.join(self.mail_dir, name + ".eml"), raw)
        _write_atomic(os.path.join(self.mail_dir, name + ".json"),
                      json.dumps(meta, indent=1).encode())
        return f"250 2.0.0 Ok: queued as {name}"


async def _serve(directory, port):
    from aiosmtpd.smtp import SMTP

    handler = _Handler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.example.test",
                     enable_SMTPUTF8=True, data_size_limit=None,
                     ident="sluice-e2e-sink"),
        host="127.0.0.1", port=port)
    bound = server.sockets[0].getsockname()[1]
    _write_atomic(os.path.join(directory, kPortFile), b"%d\n" % bound)
    print(f"sink listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.dir, args.port))
    except OSError as e:
        print(f"sink: {e}", file=sys.stderr)
        return 1
    return 0


# --- what a test reads ------------------------------------------------------

def split_fields(header_block):
    """[(name, raw value bytes)] of a header section (bytes), in order;
    continuation lines stay in the value with their line ends."""
    fields = []
    for line in header_block.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name.decode("ascii", "replace"), value))
    return fields


class SinkMessage:
    """One stored message: envelope, exact bytes, and a parsed view.

    seq, mail_from, rcpt_tos, mail_options, rcpt_options, peer, helo,
    received_at, size: from the .json. raw: the DATA bytes. message: an
    email.message.EmailMessage (policy=email.policy.default, for convenient
    access and get_content()); for exact comparisons use raw, header_fields()
    and body.
    """

    def __init__(self, meta, raw):
        self.meta = meta
        self.raw = raw
        for key in ("seq", "mail_from", "rcpt_tos", "mail_options",
                    "rcpt_options", "peer", "helo", "received_at", "size"):
            setattr(self, key, meta.get(key))
        self._message = None

    def __repr__(self):
        return (f"<SinkMessage {self.seq} from={self.mail_from!r} "
                f"to={self.rcpt_tos!r} {self.size} bytes>")

    @property
    def message(self):
        if self._message is None:
            self._message = email.message_from_bytes(
                self.raw, policy=email.policy.default)
        return self._message

    def _split(self):
        for sep in (b"\r\n\r\n", b"\n\n"):
            i = self.raw.find(sep)
            if i >= 0:
                return self.raw[:i + len(sep) // 2], self.raw[i + len(sep):]
        return self.raw, b""

    @property
    def header_block(self):
        """The header section as received, with its final line end."""
        return self._split()[0]

    @property
    def body(self):
        """The bytes after the blank line that ends the header."""
        return self._split()[1]

    def header_fields(self):
        """[(name, raw value)] in order; raw value is everything after the
        colon, folding line ends included, as bytes."""
        return split_fields(self.header_block)

    def headers(self, name):
        """Raw values (bytes) of every field called `name` (any case)."""
        return [v for n, v in self.header_fields()
                if n.lower() == name.lower()]


class Sink(Daemon):
    """SMTP sink fixture on 127.0.0.1 (see the module comment).

    rcpt / mail: {address: "550 5.1.1 user unknown"} per-address replies;
    data: one reply for every DATA (e.g. "451 4.3.0 try later"); all may be
    changed later with set_rules(). port: None (kernel's choice) or a number.
    """

    def __init__(self, rcpt=None, mail=None, data=None, port=None,
                 name="sink", **kw):
        super().__init__(name, self._sink_argv, port=port,
                         ready=self._port_written, **kw)
        self.mail_dir = self.path(kMailDir)
        os.makedirs(self.mail_dir, exist_ok=True)
        self.set_rules(rcpt=rcpt, mail=mail, data=data)

    def _sink_argv(self, _):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return [cleanup.kPython, "-c",
                f"import sys; sys.path.insert(0, {here!r}); "
                "from harness.sink import main; sys.exit(main())",
                "--dir", self.dir, "--port", str(self.port or 0)]

    def start(self):
        try:
            os.unlink(self.path(kPortFile))
        except FileNotFoundError:
            pass
        return super().start()

    def _port_written(self, _):
        try:
            with open(self.path(kPortFile)) as f:
                self.port = int(f.read())
            return True
        except (OSError, ValueError):
            return False

    @property
    def address(self):
        """"127.0.0.1:PORT"."""
        return f"127.0.0.1:{self.port}"

    def set_rules(self, rcpt=None, mail=None, data=None):
        """Replaces the reply rules; takes effect at the next SMTP command."""
        rules = {"rcpt": rcpt or {}, "mail": mail or {}, "data": data}
        _write_atomic(self.path(kRulesFile), json.dumps(rules).encode())

    def _names(self):
        try:
            return sorted(n[:-5] for n in os.listdir(self.mail_dir)
                          if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            return []

    def count(self):
        """How many complete messages are stored."""
        return len(self._names())

    def messages(self):
        """Every complete message, oldest first, as SinkMessage objects."""
        out = []
        for name in self._names():
            base = os.path.join(self.mail_dir, name)
            with open(base + ".json", "rb") as f:
                meta = json.loads(f.read())
            with open(base + ".eml", "rb") as f:
                out.append(SinkMessage(meta, f.read()))
        return out

    def wait_for(self, n, timeout=30.0):
        """Waits until at least n messages are stored; returns messages().

        Raises AssertionError ("got X messages, want N") on timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.count() >= n:
                return self.messages()
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"sink: got {self.count()} messages after {timeout}s, "
                    f"want {n}")
            if not self.running:
                raise AssertionError(f"sink died; log:\n{self.log_tail()}")
            time.sleep(0.05)

    def clear(self):
        """Deletes every stored message (sequence numbers keep counting)."""
        for name in os.listdir(self.mail_dir):
            if name.endswith((".eml", ".json")) and not name.startswith("."):
                os.unlink(os.path.join(self.mail_dir, name))


if __name__ == "__main__":
    sys.exit(main())
