"""sluice-milter as a fixture: writes sluice.conf, the key and signing
tables and optional header rules into its directory, and runs the milter in
the foreground on a free loopback port."""

import os
import signal
import time

from .daemon import AUTO, Daemon, sluice_binary


class MilterDaemon(Daemon):
    """keys: harness.dkim_keys.TestKey list; signing: [(pattern, key)] lines
    (refile: semantics); milter_keys: extra [milter] lines; rules: header
    rules text or None."""

    def __init__(self, keys=(), signing=(), milter_keys="", rules=None, unix_socket=False,
                 name="milter", redis=None, **kw):
        self.redis = redis
        self.keys = list(keys)
        self.signing = list(signing)
        self.milter_keys = milter_keys
        self.rules = rules
        self.unix_socket = unix_socket
        if unix_socket:
            kw.setdefault("ready", lambda d: os.path.exists(d.path("milter.sock")))
        # libmilter notices SIGTERM only at its next 5 s listener poll; the
        # tests don't need to wait for that (a graceful stop is tested once).
        kw.setdefault("stop_timeout", 1.0)
        super().__init__(name, self._argv_for, port=None if unix_socket else AUTO, **kw)

    @property
    def config_path(self):
        return self.path("sluice.conf")

    @property
    def socket_spec(self):
        """For Postfix's smtpd_milters (an absolute path: Postfix runs unchrooted here)."""
        if self.unix_socket:
            return f"unix:{self.path('milter.sock')}"
        return f"inet:127.0.0.1:{self.port}"

    def key_name(self, key):
        return f"{key.selector}-{key.domain}-{key.algorithm}"

    def write_config(self, milter_keys=None, rules=None):
        if milter_keys is not None:
            self.milter_keys = milter_keys
        if rules is not None:
            self.rules = rules
        with open(self.path("key.table"), "w") as f:
            for key in self.keys:
                f.write(f"{self.key_name(key)} {key.domain}:{key.selector}:{key.path}\n")
        with open(self.path("signing.table"), "w") as f:
            for pattern, key in self.signing:
                f.write(f"{pattern} {self.key_name(key)}\n")
        socket = f"unix:{self.path('milter.sock')}" if self.unix_socket else f"inet:{self.port}@127.0.0.1"
        lines = []
        if "[redis]" not in self.milter_keys:
            # Message records go to the test's Redis, or to a port nobody
            # listens on: never to a Redis that happens to run on 6379.
            port = self.redis.port if self.redis is not None else 1
            lines += ["[redis]", f"port = {port}", "connect_timeout = 200ms", ""]
        lines += ["[log]", "level = debug", "", "[milter]", f"socket = {socket}"]
        if self.keys:
            lines += [f"key_table = {self.path('key.table')}",
                      f"signing_table = refile:{self.path('signing.table')}"]
        if self.rules is not None:
            with open(self.path("header.rules"), "w") as f:
                f.write(self.rules)
            lines.append(f"header_rules = {self.path('header.rules')}")
        lines.append(self.milter_keys)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.config_path)

    def _argv_for(self, daemon):
        self.write_config()
        return [sluice_binary("sluice-milter"), "-f", "-c", self.config_path]

    def reload(self, timeout=5.0, **changes):
        before = self.log().count("reload")
        self.write_config(**changes)
        self.signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log().count("reload") > before:
                return
            time.sleep(0.05)
        raise AssertionError("milter did not log a reload:\n" + self.log_tail())
