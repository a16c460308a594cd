"""sluice-policyd as a fixture, and a client speaking Postfix's policy
delegation protocol (name=value lines, an empty line ends a request; one
action= line and an empty line come back)."""

import os
import signal
import socket
import time

from .daemon import AUTO, Daemon, sluice_binary


def rcpt_request(recipient, *, sasl_username="alice", sender="alice@example.test",
                 instance="1.2.3", client_address="127.0.0.1", state="RCPT",
                 size=1000, queue_id="", **extra):
    """A request with the attributes Postfix 3.7 sends at RCPT (or another
    state), as a dict."""
    attrs = {
        "request": "smtpd_access_policy", "protocol_state": state,
        "protocol_name": "ESMTP", "helo_name": "client.example.test",
        "queue_id": queue_id, "sender": sender, "recipient": recipient,
        "recipient_count": "0" if state == "RCPT" else "1",
        "client_address": client_address, "client_name": "localhost",
        "reverse_client_name": "localhost", "instance": instance,
        "sasl_method": "PLAIN" if sasl_username else "",
        "sasl_username": sasl_username, "sasl_sender": "", "size": str(size),
        "ccert_subject": "", "ccert_issuer": "", "ccert_fingerprint": "",
        "ccert_pubkey_fingerprint": "", "encryption_protocol": "",
        "encryption_cipher": "", "encryption_keysize": "0",
        "etrn_domain": "", "stress": "", "server_address": "127.0.0.1",
        "server_port": "25", "policy_context": "", "compatibility_level": "3.6",
        "mail_version": "3.7.11", "client_port": "40000",
    }
    attrs.update(extra)
    return attrs


class PolicyClient:
    """One persistent connection, like one Postfix smtpd process keeps."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def ask(self, attrs):
        """Sends one request; returns the action text ("DUNNO", "450 4.7.1 ...")
        or None when the server closed the connection."""
        payload = "".join(f"{k}={v}\n" for k, v in attrs.items()) + "\n"
        self.send_raw(payload.encode())
        return self.read_reply()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        lines = []
        while True:
            try:
                line = self.reader.readline()
            except ConnectionResetError:  # closed with our bytes unread
                return None
            if not line:
                return None
            if line == b"\n":
                break
            lines.append(line.decode("utf-8", "replace").rstrip("\n"))
        assert len(lines) == 1 and lines[0].startswith("action="), f"bad reply {lines!r}"
        return lines[0][len("action="):]

    def close(self):
        self.reader.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PolicyDaemon(Daemon):
    """sluice-policyd in the foreground on a free loopback port, using
    `redis`, with `config` (the text of sluice.conf after the [redis] and
    [policyd] lines the fixture writes) and optional extra [policyd] keys."""

    def __init__(self, redis, config="", policyd_keys="", name="policyd", **kw):
        self.redis = redis
        self.extra_config = config
        self.policyd_keys = policyd_keys
        super().__init__(name, self._argv_for, port=AUTO, **kw)

    @property
    def config_path(self):
        return self.path("sluice.conf")

    def write_config(self, config=None, policyd_keys=None):
        if config is not None:
            self.extra_config = config
        if policyd_keys is not None:
            self.policyd_keys = policyd_keys
        text = (f"[redis]\nport = {self.redis.port}\nreconnect_min = 50ms\n"
                f"reconnect_max = 300ms\ncommand_timeout = 500ms\n\n"
                f"[log]\nlevel = debug\n\n"
                f"[policyd]\nlisten = inet:127.0.0.1:{self.port}\n"
                f"{self.policyd_keys}\n\n{self.extra_config}\n")
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def _argv_for(self, daemon):
        self.write_config()
        return [sluice_binary("sluice-policyd"), "-f", "-c", self.config_path]

    def reload(self, config=None, policyd_keys=None, timeout=5.0):
        """Rewrites the config, sends SIGHUP, waits for the reload log line."""
        before = self.log().count("reload:")
        self.write_config(config, policyd_keys)
        self.signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log()
            if log.count("reload:") > before or log.count("reload refused") > 0:
                return
            time.sleep(0.05)
        raise AssertionError("policyd did not log a reload:\n" + self.log_tail())

    def client(self):
        return PolicyClient(self.port)
