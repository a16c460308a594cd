#!/usr/bin/python3
"""Runs Sluice's end-to-end tests: tests/e2e/test_*.py (unittest).

Usage: /usr/bin/python3 tests/e2e/run.py [FILTER...]   (as root)
A FILTER keeps the tests whose id (test_smoke.SmokeTest.test_x) contains it,
or matches it as a glob if it has * ? or [. Prints one line per test
(PASS/FAIL/SKIP: id (seconds)), under a failure its traceback and the log
tails of the fixtures alive at that moment, and ends with exactly one line
"e2e: N passed, N failed[, N skipped]"; exits 1 if anything failed.
Before running it reaps what killed runs left in /tmp/sluice-e2e-* and checks
the required programs. Needs no stdin and no terminal. Environment:
SLUICE_BUILDDIR, SLUICE_SRCDIR (set by `make check-e2e`),
SLUICE_E2E_TEST_TIMEOUT (seconds per test, default 120).
"""

import fnmatch
import grp
import os
import signal
import subprocess
import sys
import time
import traceback
import unittest

kHere = os.path.dirname(os.path.abspath(__file__))
kPython = "/usr/bin/python3"

# Debian's interpreter has aiosmtpd; the first python3 on PATH may not.
if os.path.realpath(sys.executable) != os.path.realpath(kPython) and \
        os.path.exists(kPython) and not os.environ.get("SLUICE_E2E_REEXEC"):
    os.environ["SLUICE_E2E_REEXEC"] = "1"
    os.execv(kPython, [kPython, os.path.abspath(__file__)] + sys.argv[1:])

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, kHere)
from harness import cleanup  # noqa: E402

# (path, Debian package) of every program the harness runs.
kRequiredFiles = [
    ("/usr/sbin/postfix", "postfix"),
    ("/usr/sbin/postconf", "postfix"),
    ("/usr/sbin/postqueue", "postfix"),
    ("/usr/sbin/smtp-source", "postfix"),
    ("/usr/share/postfix/master.cf.dist", "postfix"),
    ("/usr/bin/redis-server", "redis-server"),
    ("/usr/bin/swaks", "swaks"),
    (kPython, "python3"),
]


class TestTimeout(Exception):
    pass


def check_prerequisites():
    """Problems that stop the run, each naming what to install or do."""
    problems = []
    for path, package in kRequiredFiles:
        if not os.path.exists(path):
            problems.append(f"{path} missing: apt-get install {package}")
    probe = subprocess.run(
        [kPython, "-c", "import aiosmtpd, dbm.ndbm"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) \
        if os.path.exists(kPython) else None
    if probe is not None and probe.returncode != 0:
        missing = "python3-aiosmtpd" if "aiosmtpd" in probe.stdout \
            else "libpython3-stdlib (dbm.ndbm)"
        problems.append(f"{kPython} cannot import it: apt-get install "
                        f"{missing}\n{probe.stdout.strip()}")
    try:
        grp.getgrnam("postfix")
    except KeyError:
        problems.append("no group postfix: apt-get install postfix")
    if os.geteuid() != 0:
        problems.append("must run as root (private Postfix instances)")
    return problems


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def select(suite, filters):
    """A flat suite of the tests matching any filter (all if none)."""
    def wanted(test_id):
        if not filters:
            return True
        for f in filters:
            pattern = f if any(c in f for c in "*?[") else f"*{f}*"
            if fnmatch.fnmatchcase(test_id, pattern):
                return True
        return False
    return unittest.TestSuite(t for t in _flatten(suite) if wanted(t.id()))


def fixture_logs(lines=40):
    """The log tails of every live fixture, as one text block."""
    out = []
    for fixture in cleanup.live():
        try:
            text = fixture.log_tail(lines)
        except Exception as e:
            text = f"(cannot read log: {e})"
        out.append(f"--- log tail of {fixture!r} ({fixture.log_path}):\n"
                   f"{text.rstrip() or '(empty)'}")
    return "\n".join(out)


class LineResult(unittest.TestResult):
    """Prints PASS/FAIL/SKIP lines; collects counts."""

    def __init__(self, stream, timeout):
        super().__init__()
        self.stream = stream
        self.timeout = timeout
        self.n_passed = self.n_failed = self.n_skipped = 0
        self._start = None
        self._problems = []  # (title, traceback text, logs) of current test
        self._skip_reason = None
        self._succeeded = False
        self.current = None
        self.saw_interrupt = False

    def _say(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def _on_alarm(self, signum, frame):
        raise TestTimeout(f"test exceeded {self.timeout}s "
                          "(SLUICE_E2E_TEST_TIMEOUT)")

    def startTest(self, test):
        super().startTest(test)
        self.current = test
        self._start = time.monotonic()
        self._problems = []
        self._skip_reason = None
        self._succeeded = False
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.alarm(self.timeout)

    def _record(self, test, err, kind):
        text = self._exc_info_to_string(err, test)  # minus unittest frames
        logs = fixture_logs()  # now, before the test's cleanups stop them
        if self.current is None:  # setUpClass/module: no start/stopTest
            self.n_failed += 1
            self._say(f"FAIL: {test.id()} ({kind})")
            self._say(text.rstrip())
            if logs:
                self._say(logs)
        else:
            self._problems.append((kind, text, logs))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, err, "error")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, err, "failure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(subtest, err, f"subtest {subtest._subDescription()}")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._skip_reason = reason

    def addSuccess(self, test):
        super().addSuccess(test)
        self._succeeded = True

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._succeeded = True

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._problems.append(("unexpected success", "", ""))

    def stopTest(self, test):
        signal.alarm(0)
        super().stopTest(test)
        if self.current is None:
            return
        self.current = None
        secs = time.monotonic() - self._start
        if not (self._problems or self._skip_reason is not None
                or self._succeeded):
            # No outcome: a KeyboardInterrupt (SIGINT/SIGTERM) cut it short
            # and is on its way up; the fixtures are still alive.
            self.saw_interrupt = True
            self._problems.append(("interrupted", "", fixture_logs()))
        if self._problems:
            self.n_failed += 1
            self._say(f"FAIL: {test.id()} ({secs:.1f}s)")
            for kind, text, logs in self._problems:
                self._say(f"  [{kind}]")
                if text:
                    self._say(text.rstrip())
                if logs:
                    self._say(logs)
        elif self._skip_reason is not None:
            self.n_skipped += 1
            self._say(f"SKIP: {test.id()} ({self._skip_reason})")
        else:
            self.n_passed += 1
            self._say(f"PASS: {test.id()} ({secs:.1f}s)")


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0
    filters = [a for a in argv if not a.startswith("-")]
    timeout = int(os.environ.get("SLUICE_E2E_TEST_TIMEOUT", "120"))
    cleanup.install_signal_handlers()
    cleanup.reap_stale()

    problems = check_prerequisites()
    if problems:
        for p in problems:
            print(f"e2e: {p}", file=sys.stderr)
        print("e2e: 0 passed, 1 failed")
        return 1

    result = LineResult(sys.stdout, timeout)
    root = None
    exit_code = 0
    try:
        loader = unittest.TestLoader()
        suite = select(loader.discover(kHere, pattern="test_*.py",
                                       top_level_dir=kHere), filters)
        if suite.countTestCases() == 0:
            print(f"e2e: no test matches {' '.join(filters)}",
                  file=sys.stderr)
            result.n_failed += 1
        root = cleanup.run_root()
        suite.run(result)
    except KeyboardInterrupt as e:  # cleanup.Interrupted included
        why = f"interrupted ({e or 'SIGINT'})"
        if not result.saw_interrupt:
            result.n_failed += 1
            print(f"FAIL: (outside a test) {why}", flush=True)
        print(f"e2e: {why}", file=sys.stderr)
        exit_code = 128 + getattr(e, "signum", signal.SIGINT)
    except Exception:  # a harness bug: still clean up and summarise
        result.n_failed += 1
        print("FAIL: (runner)\n" + traceback.format_exc().rstrip(), flush=True)
    finally:
        signal.alarm(0)
        cleanup.ignore_signals()
        cleanup.stop_all()
        if root:
            leftovers = cleanup.processes_under(root)
            if leftovers:
                print(f"e2e: killing leftover processes {leftovers}",
                      file=sys.stderr)
                cleanup.kill_all(leftovers)
    summary = f"e2e: {result.n_passed} passed, {result.n_failed} failed"
    if result.n_skipped:
        summary += f", {result.n_skipped} skipped"
    print(summary, flush=True)
    if exit_code:
        return exit_code
    return 1 if result.n_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
