"""Temporary directories, child processes and their cleanup for e2e tests.

Owns the run root: one directory /tmp/sluice-e2e-<pid>-XXXXXX per harness
process (mode 755, so Postfix's unprivileged daemons can traverse it), holding
an `owner` file ("<pid> <starttime>") and one subdirectory per fixture. Every
fixture registers itself while it runs; stop_all() stops whatever is still
registered and removes the run root (run.py calls it in `finally`, and it is an
atexit hook). Against SIGKILL of the runner: children started by spawn() die
with it (PR_SET_PDEATHSIG) and reap_stale(), called at the next start, stops
whatever still lives under a run root whose owner is gone (Postfix by
MAIL_CONFIG, other daemons by the SLUICE_E2E_ROOT environment marker or their
working directory) and removes that root. Roots of live runs are never touched,
so two runs may share the machine. Single-threaded use only.
"""

import atexit
import ctypes
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

kTmpPrefix = "sluice-e2e-"
kTmpBase = "/tmp"
kEnvMarker = "SLUICE_E2E_ROOT"
kPython = "/usr/bin/python3"
kPostfix = "/usr/sbin/postfix"

_PR_SET_PDEATHSIG = 1

_run_root = None
_live = []  # fixtures with stop(); newest last


class Interrupted(KeyboardInterrupt):
    """Raised by the SIGINT/SIGTERM handlers so `with` blocks unwind.

    A KeyboardInterrupt subclass because unittest re-raises exactly that
    family and swallows every other BaseException into a test error.
    """


# --- run root ---------------------------------------------------------------

def _proc_starttime(pid):
    """Field 22 of /proc/PID/stat (start time in ticks), or None if gone
    or a zombie (PID 1 reaps late here: a killed runner stays <defunct>)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def run_root():
    """The run root of this process, created on first use."""
    global _run_root
    if _run_root is None or not os.path.isdir(_run_root):
        path = tempfile.mkdtemp(prefix=f"{kTmpPrefix}{os.getpid()}-",
                                dir=kTmpBase)
        os.chmod(path, 0o755)  # mkdtemp's 0700 locks Postfix's daemons out
        with open(os.path.join(path, "owner"), "w") as f:
            f.write(f"{os.getpid()} {_proc_starttime(os.getpid())}\n")
        _run_root = path
    return _run_root


def make_dir(kind):
    """A new directory run_root()/<kind>-N (mode 755) for one fixture."""
    root = run_root()
    for n in range(1, 10000):
        path = os.path.join(root, f"{kind}-{n}")
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            continue
        os.chmod(path, 0o755)  # umask
        return path
    raise RuntimeError(f"no free directory name for {kind} under {root}")


def remove_run_root():
    """Removes this process's run root (call after stop_all)."""
    global _run_root
    if _run_root is not None:
        shutil.rmtree(_run_root, ignore_errors=True)
        _run_root = None


# --- children ---------------------------------------------------------------

def die_with_parent():
    """preexec_fn: SIGTERM this child when the parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # parent already gone before prctl took effect
        os._exit(1)


def child_env(extra=None):
    """os.environ plus the run-root marker that reap_stale() looks for."""
    env = dict(os.environ)
    env[kEnvMarker] = run_root()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def spawn(argv, *, cwd, log_path=None, env=None):
    """Starts a long-running child in its own session, dying with us.

    stdin is /dev/null; stdout and stderr go to log_path (or /dev/null).
    `cwd` should be the fixture's directory: reap_stale() recognises
    leftovers by it when a daemon rewrites its environment (redis-server).
    """
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            argv, cwd=cwd, env=child_env(env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent)
    finally:
        if log_path:
            out.close()


def run(argv, *, timeout=30, env=None, cwd=None):
    """Runs a short command to completion; returns CompletedProcess (text)."""
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=timeout, env=child_env(env),
        cwd=cwd, preexec_fn=die_with_parent, text=True, errors="replace")


def stop_process(proc, timeout=5.0, sig=signal.SIGTERM):
    """Signals a Popen child and waits; SIGKILL after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def tail(path, lines=30):
    """The last `lines` lines of a text file ('' if absent)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


# --- live fixtures ----------------------------------------------------------

def register(fixture):
    """Records a started fixture (anything with stop() and log_tail(n))."""
    if fixture not in _live:
        _live.append(fixture)


def unregister(fixture):
    if fixture in _live:
        _live.remove(fixture)


def live():
    """The fixtures running now, oldest first."""
    return list(_live)


class Fixture:
    """The life cycle the fixtures share (Daemon, PostfixInstance,
    SendmailInstance). A subclass provides start() (which calls register()
    and returns self), stop() (bounded; keeps the directory), `dir` and
    `log_path`. close() stops it and removes `dir`, once. As a context
    manager, a fixture whose start() fails halfway is closed before the error
    propagates, so nothing it started outlives the test."""

    _closed = False

    def close(self):
        """Stops the fixture and removes its directory."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            unregister(self)
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines=30):
        return tail(self.log_path, lines)

    # The log from an offset: start() notes _log_size() before each attempt
    # and judges the attempt by what it logged, _log_since(offset).
    def _log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def _log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False


def stop_all():
    """Stops every registered fixture, newest first, and removes the root."""
    while _live:
        fixture = _live.pop()
        try:
            fixture.close()
        except Exception as e:  # keep stopping the others
            print(f"e2e: cleanup of {fixture!r} failed: {e}", file=sys.stderr)
    remove_run_root()


atexit.register(stop_all)


def _raise_interrupted(signum, frame):
    error = Interrupted(f"signal {signal.Signals(signum).name}")
    error.signum = signum
    raise error


def install_signal_handlers():
    """SIGINT and SIGTERM raise Interrupted, so context managers unwind."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)


def ignore_signals():
    """For the final cleanup: a second ^C must not cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


# --- stale runs -------------------------------------------------------------

def _root_is_stale(root):
    try:
        with open(os.path.join(root, "owner")) as f:
            pid, start = f.read().split()
    except (OSError, ValueError):
        # No owner yet: being created right now, or a crash in between.
        try:
            return time.time() - os.stat(root).st_mtime > 60
        except OSError:
            return False
    return str(_proc_starttime(int(pid))) != start


def _pids():
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            yield int(entry)


def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _under(path, root):
    return path == root or path.startswith(root + "/")


def processes_under(root):
    """PIDs of live processes belonging to `root`: MAIL_CONFIG or the
    SLUICE_E2E_ROOT marker in their environment, or their cwd below it."""
    found = []
    for pid in _pids():
        ours = False
        for var in _environ(pid):
            name, _, value = var.partition(b"=")
            if name in (b"MAIL_CONFIG", kEnvMarker.encode()) and _under(
                    os.fsdecode(value), root):
                ours = True
                break
        if not ours:
            try:
                ours = _under(os.readlink(f"/proc/{pid}/cwd"), root)
            except OSError:
                pass
        if ours:
            found.append(pid)
    return found


def pids_with_env(name, value):
    """PIDs of live processes whose initial environment has name=value."""
    want = f"{name}={value}".encode()
    return [pid for pid in _pids() if want in _environ(pid)]


def kill_all(pids, timeout=3.0):
    """SIGTERM, then SIGKILL what is still alive after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A zombie has an empty environ, so only live ones remain.
            pids = [p for p in pids if _environ(p) and os.path.exists(
                f"/proc/{p}/cwd")]
            if not pids:
                return
            time.sleep(0.05)


def reap_stale(verbose=True):
    """Stops what dead runs left behind and removes their directories.

    Returns the list of roots removed.
    """
    removed = []
    for root in sorted(glob.glob(os.path.join(kTmpBase, kTmpPrefix + "*"))):
        if not os.path.isdir(root) or not _root_is_stale(root):
            continue
        found = len(processes_under(root))
        for etc in glob.glob(os.path.join(root, "*", "etc", "main.cf")):
            confdir = os.path.dirname(etc)
            try:
                subprocess.run([kPostfix, "-c", confdir, "abort"],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        kill_all(processes_under(root))
        shutil.rmtree(root, ignore_errors=True)
        if verbose:
            print(f"e2e: reaped stale {root} ({found} processes)",
                  file=sys.stderr)
        removed.append(root)
    return removed
