"""A private redis-server on a free 127.0.0.1 port, and a tiny RESP client.

RedisServer runs `redis-server --save "" --appendonly no --dir <its dir>` in
the foreground: nothing is persisted, so stop() then start() (same port, for
outage tests) comes back EMPTY. start() waits for PING -> PONG. command() opens
a fresh connection per call (it works across restarts) and speaks RESP2 over
a raw socket; no Python redis library is needed.
"""

import socket

from . import ports
from .daemon import AUTO, Daemon, DaemonError

kRedisServer = "/usr/bin/redis-server"


class RedisError(Exception):
    """An error reply (-ERR ...) from Redis."""


def encode_command(*args):
    """RESP array of bulk strings for `args` (str, bytes or int)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def _read_reply(f):
    """One RESP2 reply from a binary file object; bulk strings as bytes."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"bad RESP reply {line!r}")


def redis_command(port, *args, host=ports.kHost, timeout=5.0):
    """Sends one command to host:port; returns the reply.

    Status replies come back as str ("PONG", "OK"), bulk strings as bytes,
    integers as int, arrays as lists, nil as None; error replies raise
    RedisError.
    """
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(encode_command(*args))
        with s.makefile("rb") as f:
            reply = _read_reply(f)
    if isinstance(reply, RedisError):
        raise reply
    return reply


def _pong(server):
    try:
        return redis_command(server.port, "PING", timeout=1.0) == "PONG"
    except (OSError, RedisError):
        return False


class RedisServer(Daemon):
    """Private redis-server. port: None/AUTO (free port) or a number;
    args: extra redis-server arguments, e.g. ["--maxmemory", "10mb"]."""

    def __init__(self, port=None, args=(), name="redis", **kw):
        super().__init__(name, self._redis_argv, port=port or AUTO,
                         ready=_pong, **kw)
        self.extra_args = list(args)

    def _redis_argv(self, _):
        return [kRedisServer, "--port", str(self.port),
                "--bind", ports.kHost, "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--daemonize", "no", "--logfile", "",
                "--protected-mode", "no"] + self.extra_args

    @property
    def address(self):
        """"127.0.0.1:PORT"."""
        return f"{ports.kHost}:{self.port}"

    @property
    def url(self):
        return f"redis://{ports.kHost}:{self.port}"

    def command(self, *args, timeout=5.0):
        """Runs one Redis command against this server; see redis_command."""
        return redis_command(self.port, *args, timeout=timeout)

    def ping(self):
        """True if the server answers PING now."""
        return _pong(self)


__all__ = ["RedisServer", "RedisError", "DaemonError", "redis_command",
           "encode_command"]
