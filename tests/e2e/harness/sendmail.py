"""A private Sendmail 8.17 (Debian's sendmail-bin, never installed) relaying
to a test sink through a milter.

Sendmail conflicts with Postfix as a package (both are a
mail-transport-agent), so the fixture runs it from the unpacked .debs:
sendmail-bin, sendmail-cf (the m4 files), libwrap0 (a library it links) and
sasl2-bin (saslpasswd2). They are fetched once with `apt-get download` into
kCacheDir (/var/cache/sluice-test/sendmail, or $SLUICE_SENDMAIL_CACHE) and
reused by every later run without network; when they are missing and cannot
be fetched, the fixture raises SendmailError (a test FAILS, never skips).

SendmailInstance owns DIR = run_root()/sendmail-N (mode 755) holding pkg/
(the unpacked packages), shim.so, sendmail.mc and sendmail.cf, mqueue/ (mode
700), sasl/ (Sendmail.conf and the sasldb), and sendmail.log. It runs
`sendmail -bD` (daemon in the foreground) with:

- an LD_PRELOAD shim (built with cc) that makes gethostname() return
  kHostName (without a dot in the name Sendmail sleeps 60 s per start:
  "My unqualified host name ... unknown") and sends syslog() to stderr,
  i.e. to sendmail.log (there is no /dev/log here);
- the binary's setgid bit dropped, else ld.so ignores LD_PRELOAD and
  LD_LIBRARY_PATH;
- one SMTP listener on a free 127.0.0.1 port (Name=MTA), every recipient
  relayed to the sink (SMART_HOST [127.0.0.1] on the sink's port),
  delivery mode `interactive` (delivered before the client's DATA reply);
- SMTP AUTH PLAIN/LOGIN against a sasldb in realm kHostName ($j);
- INPUT_MAIL_FILTER to `milter` with F=T (a dead milter tempfails),
  macros: connect adds {client_addr} {client_port} {client_name}
  {daemon_addr} {daemon_port}; EOH `i {msg_id}`; EOM `i {msg_id}
  {auth_authen}` (sluice-milter logs the queue ID from {i} at EOM);
  confMILTER_LOG_LEVEL 14 (negotiated flags and each milter step logged).

Readiness is a LISTEN socket on the port (counted in /proc/net/tcp), not a
connect: a probe connection would make a milter session. Sendmail scrubs its
environment and overwrites it with its process title, but it and every
child it forks run in DIR/mqueue, so stop() (and cleanup.reap_stale after a
killed run) finds them by their working directory.

    with SendmailInstance(relay=sink, milter=milter,
                          sasl_users={"alice": "pw"}) as sendmail:
        swaks.send(sendmail, auth=("alice", "pw"), ...)
"""

import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
import time

from . import cleanup, ports

kCacheDir = os.environ.get("SLUICE_SENDMAIL_CACHE",
                           "/var/cache/sluice-test/sendmail")
kPackages = ("sendmail-bin", "sendmail-cf", "libwrap0", "sasl2-bin")
kHostName = "mta.sluice.test"  # $j, and the SASL realm
kCC = "cc"
kM4 = "m4"
kLibDir = "usr/lib/x86_64-linux-gnu"

kShimSource = r"""
/* sluice e2e: a fully qualified gethostname(), and syslog() to stderr. */
#include <stdarg.h>
#include <stdio.h>
int gethostname(char *name, size_t len) {
  snprintf(name, len, "%s", HOSTNAME);
  return 0;
}
static void out(const char *fmt, va_list ap) {
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
}
void syslog(int prio, const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); out(fmt, ap); va_end(ap);
}
void __syslog_chk(int prio, int flag, const char *fmt, ...) {
  va_list ap; va_start(ap, fmt); out(fmt, ap); va_end(ap);
}
void vsyslog(int prio, const char *fmt, va_list ap) { out(fmt, ap); }
void __vsyslog_chk(int prio, int flag, const char *fmt, va_list ap) {
  out(fmt, ap);
}
void openlog(const char *ident, int option, int facility) {}
void closelog(void) {}
"""


class SendmailError(RuntimeError):
    pass


# --- the packages -----------------------------------------------------------

def _cached_debs(cache_dir):
    """{package: newest .deb path} for the packages present in the cache."""
    found = {}
    for package in kPackages:
        debs = sorted(glob.glob(os.path.join(cache_dir, f"{package}_*.deb")))
        if debs:
            found[package] = debs[-1]
    return found


def sendmail_debs(cache_dir=kCacheDir):
    """Paths of the .debs of kPackages, downloaded into cache_dir on first
    use (under a lock: two runs may start together). Raises SendmailError
    with apt-get's output when a package is missing and cannot be fetched."""
    try:
        os.makedirs(cache_dir, mode=0o755, exist_ok=True)
    except OSError as e:
        raise SendmailError(f"cannot create the package cache {cache_dir}: {e}")
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _cached_debs(cache_dir)
        missing = [p for p in kPackages if p not in found]
        if missing:
            tmp = tempfile.mkdtemp(prefix=".download-", dir=cache_dir)
            try:
                os.chmod(tmp, 0o755)
                argv = ["apt-get", "download", "-q",
                        "-o", "APT::Sandbox::User=root", *missing]
                try:
                    got = subprocess.run(
                        argv, cwd=tmp, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, errors="replace", timeout=300)
                    output, rc = got.stdout, got.returncode
                except (OSError, subprocess.TimeoutExpired) as e:
                    output, rc = str(e), -1
                for deb in glob.glob(os.path.join(tmp, "*.deb")):
                    os.replace(deb, os.path.join(cache_dir,
                                                 os.path.basename(deb)))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            found = _cached_debs(cache_dir)
            still = [p for p in kPackages if p not in found]
            if still:
                raise SendmailError(
                    f"Sendmail packages {' '.join(still)} are not in "
                    f"{cache_dir} and `{' '.join(argv)}` failed (exit {rc}); "
                    "run `apt-get update` and retry, or put the .debs "
                    f"there by hand. apt-get said:\n{output.strip()}")
    return [found[p] for p in kPackages]


def _tool(name, package):
    path = shutil.which(name)
    if path is None:
        raise SendmailError(f"{name} not found: apt-get install {package}")
    return path


# --- the instance -----------------------------------------------------------

def _milter_spec(milter):
    """Sendmail's S= for a MilterDaemon (anything with .port), a port
    number, or a ready spec such as "inet:PORT@127.0.0.1"."""
    if hasattr(milter, "port"):
        milter = milter.port
    if isinstance(milter, int):
        return f"inet:{milter}@{ports.kHost}"
    return str(milter)


class SendmailInstance(cleanup.Fixture):
    """Private Sendmail relaying to `relay` (a Sink or a port number)
    through `milter` (a MilterDaemon, a port, or an S= spec; None: no
    milter). sasl_users: {user: password} in realm kHostName.
    milter_flags: INPUT_MAIL_FILTER F= ("T": tempfail when the milter is
    unavailable, "R": reject, "": skip it). mc_extra: more sendmail.mc lines
    (before the MAILER lines)."""

    def __init__(self, relay, milter=None, sasl_users=None, milter_flags="T",
                 mc_extra=(), name="sendmail", start_timeout=15.0,
                 stop_timeout=10.0):
        self.name = name
        self.dir = cleanup.make_dir(name)
        self.pkg = os.path.join(self.dir, "pkg")
        self.binary = os.path.join(self.pkg, "usr/libexec/sendmail/sendmail")
        self.cf_dir = os.path.join(self.pkg, "usr/share/sendmail/cf")
        self.mc_path = os.path.join(self.dir, "sendmail.mc")
        self.cf_path = os.path.join(self.dir, "sendmail.cf")
        self.queue_dir = os.path.join(self.dir, "mqueue")
        self.sasl_dir = os.path.join(self.dir, "sasl")
        self.shim = os.path.join(self.dir, "shim.so")
        self.log_path = os.path.join(self.dir, f"{name}.log")
        self.relay = relay
        self.milter = milter
        self.sasl_users = dict(sasl_users or {})
        self.milter_flags = milter_flags
        self.mc_extra = list(mc_extra)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = ports.free_port()
        self.proc = None
        self._prepared = False
        self._closed = False

    def __repr__(self):
        return f"<SendmailInstance {self.dir} port={self.port}>"

    # --- preparation ----------------------------------------------------

    def _run(self, argv, what, **kw):
        try:
            got = cleanup.run(argv, cwd=self.dir, **kw)
        except subprocess.TimeoutExpired:
            raise SendmailError(f"{what}: {' '.join(argv)} timed out")
        if got.returncode != 0:
            raise SendmailError(f"{what}: {' '.join(argv)}: exit "
                                f"{got.returncode}\n{got.stdout}")
        return got.stdout

    def _prepare(self):
        cc = _tool(kCC, "gcc")
        m4 = _tool(kM4, "m4")
        for deb in sendmail_debs():
            self._run(["dpkg-deb", "-x", deb, self.pkg], f"unpacking {deb}")
        # setgid smmsp: ld.so would ignore LD_PRELOAD and LD_LIBRARY_PATH.
        os.chmod(self.binary, 0o755)
        shim_c = os.path.join(self.dir, "shim.c")
        with open(shim_c, "w") as f:
            f.write(kShimSource)
        self._run([cc, "-shared", "-fPIC", f'-DHOSTNAME="{kHostName}"',
                   "-o", self.shim, shim_c], "building the shim")
        os.mkdir(self.queue_dir, 0o700)
        os.mkdir(self.sasl_dir, 0o700)
        with open(os.path.join(self.dir, "service.switch"), "w") as f:
            f.write("hosts files\naliases files\n")
        db = os.path.join(self.sasl_dir, "sasldb")
        with open(os.path.join(self.sasl_dir, "Sendmail.conf"), "w") as f:
            f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    f"sasldb_path: {db}\nmech_list: PLAIN LOGIN\n")
        saslpasswd2 = os.path.join(self.pkg, "usr/sbin/saslpasswd2")
        for user, password in self.sasl_users.items():
            got = subprocess.run(
                [saslpasswd2, "-p", "-f", db, "-u", kHostName, "-c", user],
                input=password, capture_output=True, text=True, timeout=30,
                env=cleanup.child_env({"LD_LIBRARY_PATH":
                                       os.path.join(self.pkg, kLibDir)}))
            if got.returncode != 0:
                raise SendmailError(f"saslpasswd2 for {user}: exit "
                                    f"{got.returncode}\n{got.stderr}")
        self._prepared = True

    def mc_text(self):
        """sendmail.mc for the current ports (SMDIR and SMUSER come from
        m4 -D)."""
        relay_port = self.relay.port if hasattr(self.relay, "port") \
            else int(self.relay)
        lines = [
            "OSTYPE(`linux')dnl",
            f"define(`confDOMAIN_NAME', `{kHostName}')dnl",
            # /tmp (1777) is on the path of every file: trust the sticky bit.
            "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl",
            "define(`confTRUSTED_USER', SMUSER)dnl",
            "define(`confDONT_PROBE_INTERFACES', `True')dnl",
            "define(`confSERVICE_SWITCH_FILE', SMDIR`/service.switch')dnl",
            "define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl",
            "define(`confTO_IDENT', `0')dnl",
            # No authwarnings: no X-Authentication-Warning headers.
            "define(`confPRIVACY_FLAGS', `public')dnl",
            "define(`QUEUE_DIR', SMDIR`/mqueue')dnl",
            "define(`confPID_FILE', SMDIR`/sendmail.pid')dnl",
            "undefine(`ALIAS_FILE')dnl",
            "define(`confDELIVERY_MODE', `interactive')dnl",
            f"define(`SMART_HOST', `[{ports.kHost}]')dnl",
            f"define(`RELAY_MAILER_ARGS', `TCP $h {relay_port}')dnl",
            "define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl",
            "TRUST_AUTH_MECH(`PLAIN LOGIN')dnl",
            "define(`confMILTER_LOG_LEVEL', `14')dnl",
            "define(`confMILTER_MACROS_CONNECT', confMILTER_MACROS_CONNECT"
            "``, {client_addr}, {client_port}, {client_name}, {daemon_addr},"
            " {daemon_port}'')dnl",
            "define(`confMILTER_MACROS_EOH', ``i, {msg_id}'')dnl",
            "define(`confMILTER_MACROS_EOM', ``i, {msg_id}, {auth_authen}'')dnl",
            "FEATURE(`nocanonify')dnl",
            "FEATURE(`accept_unresolvable_domains')dnl",
            "FEATURE(`no_default_msa')dnl",
            f"DAEMON_OPTIONS(`Port={self.port}, Addr={ports.kHost}, "
            "Name=MTA')dnl",
        ]
        if self.milter is not None:
            flags = f"F={self.milter_flags}, " if self.milter_flags else ""
            lines.append(f"INPUT_MAIL_FILTER(`sluice', `S={_milter_spec(self.milter)}, "
                         f"{flags}T=S:10s;R:10s;E:30s')dnl")
        lines += self.mc_extra
        lines += ["MAILER(`local')dnl", "MAILER(`smtp')dnl",
                  "LOCAL_CONFIG",
                  # The environment is scrubbed: SASL's path goes in here.
                  "ESASL_CONF_PATH=SMDIR/sasl"]
        return "\n".join(lines) + "\n"

    def _write_cf(self):
        with open(self.mc_path, "w") as f:
            f.write(self.mc_text())
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
        cf = self._run([kM4, f"-D_CF_DIR_={self.cf_dir}/", f"-DSMDIR={self.dir}",
                        f"-DSMUSER={user}",
                        os.path.join(self.cf_dir, "m4/cf.m4"), self.mc_path],
                       "m4 sendmail.mc")
        with open(self.cf_path, "w") as f:
            f.write(cf)

    # --- life cycle -----------------------------------------------------

    def processes(self):
        """PIDs of this instance's processes (cwd, or env marker, under
        DIR)."""
        return cleanup.processes_under(self.dir)

    def start(self):
        """Prepares (first time) and starts; returns self once Sendmail
        listens. Raises SendmailError with the log tail."""
        if self._closed:
            raise SendmailError(f"{self!r} is closed")
        if self.running:
            return self
        cleanup.register(self)
        if not self._prepared:
            self._prepare()
        error = ""
        for attempt in range(5):
            if attempt:
                self.port = ports.free_port()
            self._write_cf()
            offset = self._log_size()
            with open(self.log_path, "ab") as f:
                f.write(f"--- start {time.strftime('%H:%M:%S')} port "
                        f"{self.port}\n".encode())
            self.proc = cleanup.spawn(
                [self.binary, "-bD", "-C", self.cf_path], cwd=self.dir,
                log_path=self.log_path,
                env={"LD_PRELOAD": self.shim,
                     "LD_LIBRARY_PATH": os.path.join(self.pkg, kLibDir)})
            error = self._wait_listening(offset)
            if error is None:
                return self
            self._stop_processes()
            if "in use" not in self._log_since(offset).lower():
                break
        raise SendmailError(error)

    def _wait_listening(self, offset):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return (f"sendmail exited with {self.proc.returncode} while "
                        f"starting; log:\n{self.log_tail(40)}")
            if ports.listener_count(self.port) > 0:
                return None
            if "in use" in self._log_since(offset).lower():
                return f"port {self.port} in use:\n{self.log_tail(40)}"
            time.sleep(0.03)
        return (f"sendmail not listening on {self.port} after "
                f"{self.start_timeout}s; log:\n{self.log_tail(40)}")

    def _stop_processes(self):
        cleanup.stop_process(self.proc, self.stop_timeout)
        self.proc = None
        # Children of the daemon (SMTP sessions, deliveries) that outlived
        # it, found by their working directory (mqueue/).
        left = self.processes()
        if left:
            cleanup.kill_all(left, timeout=2.0)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self):
        """Stops Sendmail and anything it forked; DIR stays until
        close()."""
        self._stop_processes()

    # --- queue and log --------------------------------------------------

    def queue_files(self):
        """Names of the files in mqueue/ (qf*, df*, ...)."""
        try:
            return sorted(os.listdir(self.queue_dir))
        except FileNotFoundError:
            return []

    def log(self):
        """The whole log (Sendmail's syslog lines and stderr) as text."""
        return self._log_since(0)
