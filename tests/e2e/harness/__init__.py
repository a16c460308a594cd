"""Sluice end-to-end test harness (run with /usr/bin/python3; see ../README.md).

Fixtures, each a context manager that stops its processes and removes its
directory on exit: RedisServer, Sink, PostfixInstance, Daemon (any other
program, e.g. sluice-milter). Clients: swaks.send, swaks.smtp_source,
redis_command. Cleanup and stale-run reaping: harness.cleanup.
"""

from . import cleanup, ports, swaks
from .daemon import AUTO, Daemon, DaemonError, sluice_binary
from .postfix import PostfixError, PostfixInstance
from .redis import RedisError, RedisServer, redis_command
from .sink import Sink, SinkMessage
from .testcase import E2ETestCase

__all__ = ["AUTO", "Daemon", "DaemonError", "E2ETestCase", "PostfixError",
           "PostfixInstance", "RedisError", "RedisServer", "Sink",
           "SinkMessage", "cleanup", "ports", "redis_command",
           "sluice_binary", "swaks"]
