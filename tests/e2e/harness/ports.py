"""Loopback TCP ports: pick a free one, wait for a listener, count listeners.

free_port() asks the kernel (bind to port 0 on 127.0.0.1) and never hands out
the same port twice in one process. The port is free when returned, not
reserved: callers that bind it later retry on EADDRINUSE (PostfixInstance and
RedisServer do). Only 127.0.0.1 is used, as the project's tests require.
"""

import socket
import time

kHost = "127.0.0.1"

_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((kHost, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port after 100 tries")


def listener_count(port):
    """How many sockets LISTEN on TCP `port` (any address, IPv4 and IPv6).

    Postfix's master binds with SO_REUSEPORT, so two instances can share a
    port silently; a fixture checks that it is the only listener.
    """
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1],
                                             16) == port:
                        count += 1
        except OSError:
            pass
    return count


def can_connect(port, host=kHost, timeout=0.5):
    """True if a TCP connection to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_listening(port, timeout=10.0, proc=None, host=kHost):
    """Waits until host:port accepts connections.

    Returns True once it does; False on timeout or when `proc` (a Popen)
    exits first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if listener_count(port) > 0 and can_connect(port, host):
            return True
        time.sleep(0.05)
    return False
