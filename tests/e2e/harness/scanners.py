"""Content scanner daemons as fixtures: SpamAssassin spamd, rspamd, ClamAV
clamd, each a private foreground instance on free 127.0.0.1 ports, offline
(see /work/shared/SCANNERS-DNS.md), plus the test messages they react to.

Each fixture is a Daemon (own directory, log shown under a failure) with:
  .address   "inet:127.0.0.1:PORT", the [scanner] address syntax of sluice.conf
  .port      the port the milter talks to
  hang() / resume(), or `with d.hung():`  SIGSTOP / SIGCONT of every process
             of the daemon: it still accepts connections (kernel backlog) but
             never answers, the "scanner too slow" case
  stop()     kills for sure: SIGCONT, SIGTERM to the whole session, SIGKILL
             of whatever is left after stop_timeout (forked workers included)
  scan(raw)  one scan over the daemon's own protocol, without the milter:
             ScanResult(verdict "spam"/"clean"/"virus", score, required,
             symbols, virus, seconds), for the scanner's own latency

The processes run in their own session (cleanup.spawn), so the session ID
finds the forked children (spamd's child, rspamd's workers) even when they
rewrite their environment and command line; a failed start reaps them too.

rspamd compiles its regular expressions to a hyperscan database on a cold
start (~18 s, over a minute on a loaded machine); the database is cached in
kRspamdCache across runs, so later starts take ~2 s. Only that cache is
shared: DBDIR (control socket, history, rrd) stays private, so two runs may
share the machine.
"""

import base64
import collections
import hashlib
import json
import os
import re
import signal
import socket
import struct
import time

from . import cleanup, ports
from .daemon import AUTO, Daemon, DaemonError
from .messages import message

kSpamd = "/usr/sbin/spamd"
kSpamc = "/usr/bin/spamc"
kRspamd = "/usr/bin/rspamd"
kRspamdConf = "/etc/rspamd/rspamd.conf"
kClamd = "/usr/sbin/clamd"
kSpamdUser = "debian-spamd"  # spamd refuses to run its children as root
kRspamdCache = "/var/cache/sluice-test/rspamd-db"

# GTUBE (SpamAssassin and rspamd both know it) and EICAR (the antivirus test
# file, 68 bytes; clamd knows it here only through our own signatures).
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# A harmless string that our clamd reports as Sluice.Test.Mark.
VIRUS_MARK = "SLUICE-TEST-VIRUS-MARK"

kEicarName = "Sluice.Test.EICAR"
kMarkName = "Sluice.Test.Mark"

ScanResult = collections.namedtuple(
    "ScanResult", "verdict score required symbols virus seconds reply")


# --- test messages ----------------------------------------------------------

def clean_message(subject="clean", body=None):
    """An ordinary message from alice@example.test that no scanner flags."""
    body = body or ("Hello Bob,\n\nthe minutes of Tuesday's meeting are below."
                    "\nSee you on Friday.\n\nAlice\n")
    return message(body=body, subject=subject)


def gtube_message(subject="gtube", padding=0):
    """GTUBE in the body: spam to spamd and rspamd. `padding` adds that
    many bytes of filler after it (for max_size tests)."""
    body = f"This is a test.\n\n{GTUBE}\n\n"
    if padding:
        line = "filler " * 10 + "\n"
        body += line * (padding // len(line) + 1)
    return message(body=body, subject=subject)


def eicar_message(encoding="base64", subject=None):
    """EICAR as an attachment (eicar.com) of a multipart message:
    encoding "base64" or "plain" (7bit, the 68 bytes as they are).
    Our clamd finds either as Sluice.Test.EICAR (see ClamdDaemon)."""
    if encoding == "base64":
        payload = base64.encodebytes(EICAR).decode()
        cte = "base64"
    elif encoding == "plain":
        payload = EICAR.decode() + "\n"
        cte = "7bit"
    else:
        raise ValueError(f"encoding {encoding!r}: base64 or plain")
    body = ("--b1\nContent-Type: text/plain\n\nSee the attachment.\n"
            "--b1\nContent-Type: application/octet-stream; name=eicar.com\n"
            f"Content-Disposition: attachment; filename=eicar.com\n"
            f"Content-Transfer-Encoding: {cte}\n\n{payload}--b1--\n")
    return message(body=body, subject=subject or f"eicar {encoding}",
                   headers="MIME-Version: 1.0\n"
                           "Content-Type: multipart/mixed; boundary=b1\n")


def mark_message(subject="mark"):
    """A text message carrying VIRUS_MARK: a 'virus' to our clamd only."""
    return message(body=f"Nothing to see here: {VIRUS_MARK}\n",
                   subject=subject)


# --- the fixtures -----------------------------------------------------------

def _stat_fields(pid):
    """Fields after the command name in /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()


def _session_pids(sid):
    """Live (non-zombie) processes of session `sid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        fields = _stat_fields(entry)
        # fields[0] state, [3] session ID
        if fields and fields[0] not in (b"Z", b"X") and int(fields[3]) == sid:
            found.append(int(entry))
    return found


def _recv_all(sock, cap=1 << 20):
    data = b""
    while len(data) < cap:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class ScannerDaemon(Daemon):
    """What the three scanner fixtures share: session-wide signals and
    stop, hang/resume, .address."""

    def __init__(self, name, argv, **kw):
        self._sessions = set()
        self._hung = False
        super().__init__(name, argv, port=AUTO, **kw)

    # Daemon assigns self.proc at each spawn: note the new session's ID
    # (= the leader's PID), so what it forked can be found after it died.
    @property
    def proc(self):
        return self._proc

    @proc.setter
    def proc(self, value):
        self._proc = value
        if value is not None:
            self._sessions.add(value.pid)

    @property
    def address(self):
        return f"inet:{ports.kHost}:{self.port}"

    def processes(self):
        """PIDs of every live process this fixture started."""
        pids = []
        for sid in self._sessions:
            pids += _session_pids(sid)
        return pids

    def _signal_all(self, sig):
        for pid in self.processes():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def hang(self):
        """SIGSTOP to every process: connections are accepted by the
        kernel, never answered."""
        if not self.running:
            raise DaemonError(f"{self!r} is not running")
        self._signal_all(signal.SIGSTOP)
        self._hung = True

    def resume(self):
        self._signal_all(signal.SIGCONT)
        self._hung = False

    class _Hung:
        def __init__(self, daemon):
            self.daemon = daemon

        def __enter__(self):
            self.daemon.hang()
            return self.daemon

        def __exit__(self, *exc):
            self.daemon.resume()
            return False

    def hung(self):
        """`with daemon.hung(): ...` hangs it for the block."""
        return self._Hung(self)

    def _reap(self):
        """SIGTERM to what is left of our sessions, SIGKILL after
        stop_timeout; forgets sessions that are empty."""
        self._signal_all(signal.SIGCONT)  # a stopped process can't die
        for sig in (signal.SIGTERM, signal.SIGKILL):
            self._signal_all(sig)
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and self.processes():
                time.sleep(0.05)
            if not self.processes():
                break
        self._sessions = {s for s in self._sessions if _session_pids(s)}
        self._hung = False

    def _start_once(self):
        error = super()._start_once()
        if error is not None:
            self._reap()
        return error

    def stop(self):
        """Stops every process of the daemon, for sure."""
        if self._hung:
            self.resume()
        super().stop()  # SIGTERM to the leader: the graceful way
        self._reap()

    def wait_answer(self, probe, timeout=10.0):
        """Polls probe() until true (bounded); for after resume()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return True
            time.sleep(0.05)
        return False


class SpamdDaemon(ScannerDaemon):
    """SpamAssassin's spamd: local tests only (-L: no DNS, no network),
    no user configuration (-x), one child. Ready when `spamc -K` answers
    (~2 s). Its own threshold (required_score) is 5.0."""

    def __init__(self, name="spamd", **kw):
        kw.setdefault("start_timeout", 60.0)
        kw.setdefault("ready", lambda d: d.ping())
        super().__init__(name, self._spamd_argv, **kw)

    def _spamd_argv(self, _):
        argv = [kSpamd, "-L", "-x", "--listen", f"{ports.kHost}:{self.port}",
                "--max-children", "1", "--pidfile", self.path("spamd.pid"),
                "-s", "stderr"]
        if os.geteuid() == 0:
            argv += ["-u", kSpamdUser]
        return argv

    def ping(self):
        try:
            got = cleanup.run([kSpamc, "-K", "-d", ports.kHost,
                               "-p", str(self.port), "-t", "2"], timeout=5)
        except Exception:
            return False
        return got.returncode == 0 and "SPAMD/" in got.stdout

    def scan(self, raw, timeout=30.0):
        """SYMBOLS over the spamd protocol: verdict spam/clean, score,
        required, symbols."""
        t0 = time.monotonic()
        with socket.create_connection((ports.kHost, self.port),
                                      timeout=timeout) as s:
            s.sendall(b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n"
                      % len(raw) + raw)
            s.shutdown(socket.SHUT_WR)
            reply = _recv_all(s)
        seconds = time.monotonic() - t0
        head, _, body = reply.partition(b"\r\n\r\n")
        m = re.search(rb"^Spam: (True|False) ; (-?[\d.]+) / (-?[\d.]+)",
                      head, re.M)
        if not head.startswith(b"SPAMD/") or not m:
            raise AssertionError(f"spamd answered {reply[:300]!r}")
        symbols = [x for x in body.decode().strip().split(",") if x]
        return ScanResult("spam" if m.group(1) == b"True" else "clean",
                          float(m.group(2)), float(m.group(3)), symbols,
                          None, seconds, reply)


class RspamdDaemon(ScannerDaemon):
    """rspamd with the stock configuration, its workers bound to free
    loopback ports (normal = .port, controller, proxy), logging to the
    fixture's log, DNS pointed at a dead loopback port (no traffic leaves
    the host) and the fuzzy module off (it would resolve rspamd.com).
    Ready when GET /ping on the normal worker says pong and, on a cold
    hyperscan cache, once the database is compiled and loaded (so the cache
    is filled for next time and no compiler eats the CPU during tests)."""

    kHsLoaded = re.compile(r"hyperscan database of \d+ regexps has been loaded"
                           r"|loading hyperscan expressions after receiving")

    def __init__(self, name="rspamd", cache_dir=kRspamdCache, **kw):
        self.cache_dir = cache_dir
        self.cold = None
        kw.setdefault("start_timeout", 300.0)
        kw.setdefault("ready", lambda d: d.ping() and d._hyperscan_ready())
        kw.setdefault("stop_timeout", 10.0)
        super().__init__(name, self._rspamd_argv, **kw)
        self.controller_port = ports.free_port()
        self.proxy_port = ports.free_port()
        self.dns_port = ports.free_port()  # nothing listens there
        self._config_port = None

    def _write_local_conf(self):
        local = self.path("local.d")
        os.makedirs(local, exist_ok=True)
        if self._config_port not in (None, self.port):
            # A retry after "in use": the other ports may be the culprits.
            self.controller_port = ports.free_port()
            self.proxy_port = ports.free_port()
        self._config_port = self.port
        files = {
            "worker-normal.inc": f'bind_socket = "{ports.kHost}:{self.port}";\n'
                                 "count = 1;\n",
            "worker-controller.inc":
                f'bind_socket = "{ports.kHost}:{self.controller_port}";\n'
                "count = 1;\n",
            "worker-proxy.inc":
                f'bind_socket = "{ports.kHost}:{self.proxy_port}";\n'
                'milter = yes;\nupstream "local" { default = yes; '
                "self_scan = yes; }\ncount = 1;\n",
            "logging.inc": 'type = "console";\nlevel = "info";\n',
            "options.inc": f'hs_cache_dir = "{self._hs_dir()}/";\n'
                           "dns {\n"
                           f'  nameserver = ["{ports.kHost}:{self.dns_port}"];\n'
                           "  timeout = 0.2s;\n  retransmits = 1;\n}\n",
            "fuzzy_check.conf": "enabled = false;\n",
        }
        for name, text in files.items():
            with open(os.path.join(local, name), "w") as f:
                f.write(text)

    def _hs_dir(self):
        """The shared hyperscan cache, or a private one if not writable."""
        try:
            os.makedirs(self.cache_dir, mode=0o755, exist_ok=True)
            if os.access(self.cache_dir, os.W_OK):
                return self.cache_dir
        except OSError:
            pass
        private = self.path("hs")
        os.makedirs(private, exist_ok=True)
        return private

    def _rspamd_argv(self, _):
        self._write_local_conf()
        for sub in ("db", "run", "log"):
            os.makedirs(self.path(sub), exist_ok=True)
        self.cold = not any(n.endswith(".hs")
                            for n in os.listdir(self._hs_dir()))
        self._log_start = self._log_size()
        argv = [kRspamd, "-f"]
        if os.geteuid() == 0:
            argv.append("-i")  # let the workers run as root
        return argv + ["-c", kRspamdConf,
                       f"--var=LOCAL_CONFDIR={self.dir}",
                       f"--var=DBDIR={self.path('db')}",
                       f"--var=RUNDIR={self.path('run')}",
                       f"--var=LOGDIR={self.path('log')}"]

    def _hyperscan_ready(self):
        text = self._log_since(self._log_start)
        if "hs_helper" not in text and "hyperscan" not in text:
            return True  # built without hyperscan: nothing to wait for
        return bool(self.kHsLoaded.search(text))

    def _http(self, method, path, body=b"", headers=None, timeout=30.0):
        """(status, body bytes) of one HTTP/1.0 request to the normal
        worker."""
        lines = [f"{method} {path} HTTP/1.0", f"Host: {ports.kHost}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        with socket.create_connection((ports.kHost, self.port),
                                      timeout=timeout) as s:
            s.sendall(request)
            reply = _recv_all(s, 16 << 20)
        head, _, payload = reply.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not m:
            raise AssertionError(f"rspamd answered {reply[:300]!r}")
        return int(m.group(1)), payload

    def ping(self):
        try:
            status, body = self._http("GET", "/ping", timeout=1.0)
        except (OSError, AssertionError):
            return False
        return status == 200 and body.strip() == b"pong"

    def check(self, raw, ip="127.0.0.1", timeout=30.0, **headers):
        """The /checkv2 JSON answer for `raw` (a loopback IP by default:
        a public one would trigger DNS checks)."""
        hdrs = {"IP": ip} if ip else {}
        hdrs.update(headers)
        status, body = self._http("POST", "/checkv2", raw, hdrs, timeout)
        if status != 200:
            raise AssertionError(f"rspamd /checkv2 status {status}: "
                                 f"{body[:300]!r}")
        return json.loads(body)

    def scan(self, raw, timeout=30.0):
        """verdict "spam" unless the action is "no action" (or greylist)."""
        t0 = time.monotonic()
        answer = self.check(raw, timeout=timeout)
        seconds = time.monotonic() - t0
        action = answer.get("action", "")
        verdict = "clean" if action in ("no action", "greylist") else "spam"
        return ScanResult(verdict, float(answer.get("score", 0)),
                          float(answer.get("required_score", 0)),
                          sorted(answer.get("symbols", {})), None, seconds,
                          answer)


class ClamdDaemon(ScannerDaemon):
    """clamd with only our signatures (no freshclam, no download):
    Sluice.Test.EICAR, an MD5 whole-file signature of EICAR (the .hdb line
    `sigtool --md5` prints; sigtool is in Debian's `clamav`, not needed
    here) and the same name as a body pattern (.ndb), and Sluice.Test.Mark,
    a body pattern for VIRUS_MARK. clamd reports them with ".UNOFFICIAL"
    appended. It logs to stdout (the fixture's log). Ready on zPING ->
    PONG."""

    def __init__(self, name="clamd", **kw):
        kw.setdefault("start_timeout", 60.0)
        kw.setdefault("ready", lambda d: d.ping())
        super().__init__(name, self._clamd_argv, **kw)

    def _write_config(self):
        db = self.path("db")
        os.makedirs(db, exist_ok=True)
        with open(os.path.join(db, "sluice-test.hdb"), "w") as f:
            f.write(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:"
                    f"{kEicarName}\n")
        with open(os.path.join(db, "sluice-test.ndb"), "w") as f:
            # The hash matches a decoded attachment that is exactly the
            # file; this body pattern also finds EICAR inside a text part
            # (a 7bit attachment keeps a line end the hash would not).
            f.write(f"{kEicarName}:0:*:{EICAR.hex()}\n"
                    f"{kMarkName}:0:*:{VIRUS_MARK.encode().hex()}\n")
        conf = self.path("clamd.conf")
        with open(conf, "w") as f:
            f.write(f"DatabaseDirectory {db}\n"
                    f"TCPSocket {self.port}\nTCPAddr {ports.kHost}\n"
                    "Foreground yes\n"
                    f"PidFile {self.path('clamd.pid')}\n"
                    "SelfCheck 0\n")
        return conf

    def _clamd_argv(self, _):
        return [kClamd, "-c", self._write_config()]

    def _command(self, command, payload=None, timeout=10.0):
        """One z-command (NUL-terminated), with INSTREAM chunks if
        payload is given; the answer without its NUL."""
        with socket.create_connection((ports.kHost, self.port),
                                      timeout=timeout) as s:
            s.sendall(b"z" + command + b"\0")
            if payload is not None:
                for i in range(0, len(payload), 65536):
                    chunk = payload[i:i + 65536]
                    s.sendall(struct.pack(">I", len(chunk)) + chunk)
                s.sendall(struct.pack(">I", 0))
            return _recv_all(s).rstrip(b"\0")

    def ping(self):
        try:
            return self._command(b"PING", timeout=1.0) == b"PONG"
        except OSError:
            return False

    def scan(self, raw, timeout=30.0):
        """zINSTREAM: verdict "virus" (with the name) or "clean"."""
        t0 = time.monotonic()
        reply = self._command(b"INSTREAM", raw, timeout)
        seconds = time.monotonic() - t0
        m = re.fullmatch(rb"stream: (.+) FOUND", reply)
        if m:
            return ScanResult("virus", None, None, [], m.group(1).decode(),
                              seconds, reply)
        if reply == b"stream: OK":
            return ScanResult("clean", None, None, [], None, seconds, reply)
        raise AssertionError(f"clamd answered {reply!r}")


def median_latency(daemon, raw, count=20):
    """Median seconds of `count` direct scans of `raw` (one warm-up scan
    first, not counted)."""
    daemon.scan(raw)
    times = sorted(daemon.scan(raw).seconds for _ in range(count))
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2


__all__ = ["ClamdDaemon", "EICAR", "GTUBE", "RspamdDaemon", "ScanResult",
           "ScannerDaemon", "SpamdDaemon", "VIRUS_MARK", "clean_message",
           "eicar_message", "gtube_message", "mark_message",
           "median_latency"]
