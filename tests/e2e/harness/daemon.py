"""A long-running child process as a test fixture (base of RedisServer, Sink).

Daemon owns one directory (run_root()/<name>-N, mode 755), the process, and
its log (<dir>/<name>.log, stdout and stderr). start() returns once `ready`
holds, or raises DaemonError with the log tail; stop() signals and waits
(SIGKILL after stop_timeout); start() after stop() reuses the same port, for
outage tests; close() stops and removes the directory. The process runs in its
own session, with cwd = its directory and the SLUICE_E2E_ROOT marker, and gets
SIGTERM if the harness dies (see cleanup.py). Later tests start sluice-milter
and sluice-policyd through it:

    with Daemon("policyd", lambda d: [sluice_binary("sluice-policyd"),
                                      "-c", d.path("policyd.conf")],
                port=AUTO) as policyd: ...
"""

import os
import signal
import time

from . import cleanup, ports

AUTO = "auto"  # port=AUTO: pick a free port; pick another if bind fails


class DaemonError(RuntimeError):
    pass


def sluice_binary(name):
    """Path of a built Sluice program, e.g. sluice_binary("sluice-milter").

    Looks in $SLUICE_BUILDDIR (default: the source tree) under milter/,
    policyd/, ctl/, bounce/, unsubscribe/ and the top level; raises DaemonError if not built.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    builddir = os.environ.get("SLUICE_BUILDDIR") or os.path.normpath(
        os.path.join(here, "..", "..", ".."))
    for sub in ("milter", "policyd", "ctl", "bounce", "unsubscribe", ""):
        path = os.path.join(builddir, sub, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise DaemonError(f"{name} not built under {builddir} (run make first)")


class Daemon(cleanup.Fixture):
    """A child process fixture.

    name: directory and log name. argv: list, or callable(daemon) -> list
    (called at each start, so it can use daemon.dir and daemon.port).
    port: int, AUTO, or None (no TCP port). ready: callable(daemon) -> bool
    polled until true; default: the port accepts connections (or, without a
    port, the process is alive). env: extra environment variables.
    """

    def __init__(self, name, argv, *, port=None, ready=None, env=None,
                 start_timeout=15.0, stop_timeout=5.0,
                 stop_signal=signal.SIGTERM):
        self.name = name
        self.dir = cleanup.make_dir(name)
        self.log_path = os.path.join(self.dir, f"{name}.log")
        self._argv = argv
        self._auto_port = port == AUTO
        self.port = ports.free_port() if self._auto_port else port
        self._ready = ready
        self._env = env
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stop_signal = stop_signal
        self.proc = None
        self._started_once = False
        self._closed = False

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} port={self.port}>"

    def path(self, *parts):
        """A path inside this daemon's directory."""
        return os.path.join(self.dir, *parts)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def argv(self):
        return list(self._argv(self) if callable(self._argv) else self._argv)

    def is_ready(self):
        if self._ready is not None:
            return bool(self._ready(self))
        if self.port is not None:
            return ports.can_connect(self.port)
        return True

    def start(self):
        """Starts the process and waits until ready; raises DaemonError."""
        if self._closed:
            raise DaemonError(f"{self!r} is closed")
        if self.running:
            return self
        cleanup.register(self)
        tries = 5 if self._auto_port and not self._started_once else 1
        for attempt in range(tries):
            error = self._start_once()
            if error is None:
                self._started_once = True
                return self
            if attempt + 1 < tries and "in use" in error.lower():
                self.port = ports.free_port()
                continue
            raise DaemonError(error)

    def _start_once(self):
        """Spawns and waits; returns None when ready, else an error text."""
        with open(self.log_path, "ab") as f:
            f.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
        self.proc = cleanup.spawn(self.argv(), cwd=self.dir,
                                  log_path=self.log_path, env=self._env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                return (f"{self.name} exited with {rc} while starting; "
                        f"log tail:\n{self.log_tail()}")
            if self.is_ready():
                return None
            time.sleep(0.05)
        cleanup.stop_process(self.proc, self.stop_timeout, self.stop_signal)
        self.proc = None
        return (f"{self.name} not ready after {self.start_timeout}s; "
                f"log tail:\n{self.log_tail()}")

    def stop(self):
        """Stops the process (it stays registered until close())."""
        cleanup.stop_process(self.proc, self.stop_timeout, self.stop_signal)
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def signal(self, sig):
        """Sends `sig` (e.g. signal.SIGHUP for a reload) to the process."""
        if self.running:
            self.proc.send_signal(sig)

    def log(self):
        """The whole log as text."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""
