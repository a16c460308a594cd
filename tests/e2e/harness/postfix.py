"""A private Postfix 3.7 instance (root) relaying to a test sink.

PostfixInstance owns DIR = run_root()/postfix-N (mode 755) holding etc/
(main.cf, master.cf from /usr/share/postfix/master.cf.dist, sasl/), spool/
(queue_directory), data/ (data_directory) and log/postfix.log (maillog_file:
without a terminal, Postfix reports errors ONLY there). One smtpd listens on a
free 127.0.0.1 port; the system `smtp inet` service is commented out and
/etc/postfix is never read or written. Mail for every domain is relayed to
`relayhost` (the sink). start() retries with another port if the bind fails or
another master shares the port through SO_REUSEPORT (listener count != 1), and
raises PostfixError with the log tail otherwise. stop() runs `postfix stop`
and then kills whatever still runs with MAIL_CONFIG=DIR/etc (PID 1 reaps late
here, so processes are found through /proc/*/environ, never by name).
Single-threaded; one instance per PostfixInstance object.
"""

import dbm.ndbm
import grp
import os
import shutil
import subprocess
import time

from . import cleanup, ports

kPostconf = "/usr/sbin/postconf"
kPostqueue = "/usr/sbin/postqueue"
kMasterCfDist = "/usr/share/postfix/master.cf.dist"
kQueues = ("maildrop", "incoming", "active", "deferred", "hold")
kSaslRealm = "example.test"


class PostfixError(RuntimeError):
    pass


def _cf_value(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class PostfixInstance(cleanup.Fixture):
    """Private Postfix relaying to `relay`.

    relay: a Sink (anything with .port), a port number, or "host:port"
        (becomes relayhost = [host]:port); None leaves relayhost empty.
    main_cf: {parameter: value} applied after the defaults (see
        default_main_cf); a list value is joined with ", ", None is empty.
    master_cf: extra master.cf lines appended verbatim (services, filters).
    smtpd_options: {parameter: value} given as -o to the test smtpd only.
    sasl_users: {user: password}: enables Cyrus SASL (sasldb, PLAIN LOGIN) in
        realm example.test on the test smtpd.
    chroot: run the services chrooted (default no: simpler with sockets and
        sasldb; with chroot a unix socket must be given relative to spool/).
    """

    def __init__(self, relay=None, main_cf=None, master_cf=(),
                 smtpd_options=None, sasl_users=None, chroot=False,
                 name="postfix", start_timeout=30.0, stop_timeout=10.0):
        self.name = name
        self.dir = cleanup.make_dir(name)
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.log_dir = os.path.join(self.dir, "log")
        self.log_path = os.path.join(self.log_dir, "postfix.log")
        for d in (self.etc, self.spool, self.log_dir):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)
        self.relay = relay
        self.main_cf_overrides = dict(main_cf or {})
        self.master_cf_extra = list(master_cf)
        self.smtpd_options = dict(smtpd_options or {})
        self.sasl_users = dict(sasl_users or {})
        self.chroot = chroot
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = ports.free_port()
        self._configured = False
        self._running = False
        self._closed = False

    def __repr__(self):
        return f"<PostfixInstance {self.dir} port={self.port}>"

    # --- configuration --------------------------------------------------

    def _relayhost(self):
        relay = self.relay
        if relay is None:
            return ""
        if hasattr(relay, "port"):
            relay = relay.port
        if isinstance(relay, int):
            return f"[{ports.kHost}]:{relay}"
        host, _, port = str(relay).rpartition(":")
        return f"[{host.strip('[]')}]:{port}" if host else str(relay)

    def default_main_cf(self):
        """The harness's main.cf before overrides: loopback only, no DNS,
        no local delivery, everything relayed to the sink."""
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "myhostname": f"{self.name}.example.test",
            "mydomain": "example.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "inet_interfaces": ports.kHost,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": self._relayhost(),
            "smtp_host_lookup": "native",
            "disable_dns_lookups": "yes",
            "smtpd_peername_lookup": "no",
            "syslog_name": f"postfix-e2e-{os.path.basename(self.dir)}",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.log_dir,
            "smtpd_relay_restrictions": "permit_mynetworks, "
            "permit_sasl_authenticated, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "biff": "no",
            "append_dot_mydomain": "no",
        }
        if self.sasl_users:
            cf.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "cyrus",
                "cyrus_sasl_config_path": os.path.join(self.etc, "sasl"),
                "smtpd_sasl_local_domain": kSaslRealm,
            })
        return cf

    def postconf(self, settings, reload=False):
        """Sets main.cf parameters ({name: value}); reloads if asked and
        running."""
        args = [f"{k} = {_cf_value(v)}" for k, v in settings.items()]
        if args:
            self._run([kPostconf, "-c", self.etc, "-e"] + args)
            self._backdate()
        if reload and self._running:
            self.reload()

    def postconf_get(self, name):
        """The effective value of a main.cf parameter."""
        return self._run([kPostconf, "-c", self.etc, "-h", name]).strip()

    def _backdate(self):
        """Sets etc/*.cf mtimes 2 s into the past: Postfix waits (polling
        every 0.3 s) while main.cf is "being written", i.e. its mtime is not
        yet in the past, which cost ~1.5 s per start."""
        past = time.time() - 2
        for name in os.listdir(self.etc):
            if name.endswith(".cf"):
                os.utime(os.path.join(self.etc, name), (past, past))

    def _run(self, argv, timeout=30, check=True):
        env = {"MAIL_CONFIG": self.etc}
        result = cleanup.run(argv, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise PostfixError(
                f"{' '.join(argv)}: exit {result.returncode}\n"
                f"{result.stdout}\nlog tail:\n{self.log_tail()}")
        return result.stdout

    def _write_sasl(self):
        sasl = os.path.join(self.etc, "sasl")
        os.makedirs(sasl, mode=0o755, exist_ok=True)
        db_base = os.path.join(sasl, "db")  # Berkeley DB adds ".db"
        with open(os.path.join(sasl, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    f"mech_list: PLAIN LOGIN\nsasldb_path: {db_base}.db\n")
        db = dbm.ndbm.open(db_base, "c", 0o640)
        try:
            for user, password in self.sasl_users.items():
                key = f"{user}\0{kSaslRealm}\0userPassword".encode()
                db[key] = password.encode()
        finally:
            db.close()
        os.chown(db_base + ".db", 0, grp.getgrnam("postfix").gr_gid)
        os.chmod(db_base + ".db", 0o640)

    def _configure(self):
        master_cf = os.path.join(self.etc, "master.cf")
        shutil.copyfile(kMasterCfDist, master_cf)
        if self.master_cf_extra:
            with open(master_cf, "a") as f:
                f.write("\n# sluice e2e: extra services\n")
                for line in self.master_cf_extra:
                    f.write(line.rstrip("\n") + "\n")
        open(os.path.join(self.etc, "main.cf"), "w").close()
        cf = self.default_main_cf()
        cf.update(self.main_cf_overrides)
        self.postconf(cf)
        self._run([kPostconf, "-c", self.etc, "-M#", "smtp/inet"])
        if not self.chroot:
            self._run([kPostconf, "-c", self.etc, "-F", "*/*/chroot = n"])
        shutil.copyfile(master_cf, master_cf + ".base")
        if self.sasl_users:
            self._write_sasl()
        self._configured = True

    def _set_listener(self):
        """master.cf = master.cf.base + the test smtpd on self.port."""
        master_cf = os.path.join(self.etc, "master.cf")
        with open(master_cf + ".base") as f:
            text = f.read()
        chroot = "y" if self.chroot else "n"
        text += ("\n# sluice e2e: the test smtpd\n"
                 f"{self.port} inet n - {chroot} - - smtpd\n")
        for k, v in self.smtpd_options.items():
            v = _cf_value(v)
            if any(c.isspace() for c in v):
                text += f"  -o {{ {k} = {v} }}\n"  # Postfix 3.0 syntax
            else:
                text += f"  -o {k}={v}\n"
        with open(master_cf, "w") as f:
            f.write(text)
        self._backdate()

    # --- life cycle -----------------------------------------------------

    def processes(self):
        """PIDs of live processes of this instance (MAIL_CONFIG match)."""
        return cleanup.pids_with_env("MAIL_CONFIG", self.etc)

    def start(self):
        """Configures (first time) and starts; returns self."""
        if self._closed:
            raise PostfixError(f"{self!r} is closed")
        if self._running:
            return self
        if not self._configured:
            self._configure()
        cleanup.register(self)
        last = ""
        for attempt in range(5):
            if attempt:
                self.port = ports.free_port()
            self._set_listener()
            offset = self._log_size()
            rc, out = self._postfix_start()
            new_log = self._log_since(offset)
            # `postfix start` returns once master has bound the port; count
            # listeners rather than connect (a probe would show in the log).
            if rc == 0 and ports.listener_count(self.port) == 1:
                self._running = True
                return self
            last = (f"postfix -c {self.etc} start: exit {rc} on port "
                    f"{self.port} (listeners: "
                    f"{ports.listener_count(self.port)})\n{out.strip()}\n"
                    f"log:\n{cleanup.tail(self.log_path, 40)}")
            self._stop_processes()
            if rc == 0 or "in use" in new_log or "in use" in out:
                continue  # port clash: try another
            break
        raise PostfixError(last)

    def _postfix_start(self):
        """Runs `postfix start`; returns (exit code, its output). Output
        goes through a file: a pipe could be held open by the daemons."""
        out_path = os.path.join(self.log_dir, "postfix-start.out")
        with open(out_path, "wb") as out:
            try:
                rc = subprocess.run(
                    [cleanup.kPostfix, "-c", self.etc, "start"],
                    stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, timeout=self.start_timeout,
                    env=cleanup.child_env({"MAIL_CONFIG": self.etc}),
                    preexec_fn=cleanup.die_with_parent).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        with open(out_path, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        if rc == -1:
            out += f"\npostfix start timed out ({self.start_timeout}s)"
        return rc, out

    def _stop_processes(self):
        if not self.processes():
            return  # `postfix stop` would fail and sleep 1 s in msg_fatal
        try:
            self._run([cleanup.kPostfix, "-c", self.etc, "stop"],
                      timeout=self.stop_timeout, check=False)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            if not self.processes():
                return
            time.sleep(0.1)
        cleanup.kill_all(self.processes(), timeout=2.0)

    def stop(self):
        """Stops the instance (bounded: kills leftovers after
        stop_timeout); the directory stays until close()."""
        if self._configured:
            self._stop_processes()
        self._running = False

    def reload(self):
        """`postfix reload`: re-reads main.cf and master.cf."""
        self._run([cleanup.kPostfix, "-c", self.etc, "reload"])

    def flush(self):
        """`postqueue -f`: retries deferred mail now."""
        self._run([kPostqueue, "-c", self.etc, "-f"])

    def mailq(self):
        """`postqueue -p` output."""
        return self._run([kPostqueue, "-c", self.etc, "-p"], check=False)

    @property
    def running(self):
        return self._running

    # --- queue and log --------------------------------------------------

    def queue_files(self):
        """{queue name: number of queue files} for maildrop, incoming,
        active, deferred, hold."""
        counts = {}
        for queue in kQueues:
            n = 0
            for _, _, files in os.walk(os.path.join(self.spool, queue)):
                n += len(files)
            counts[queue] = n
        return counts

    def wait_queue_empty(self, timeout=30.0):
        """Waits until no message is queued; raises AssertionError with the
        queue counts, mailq and log tail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.queue_files()
            if not any(counts.values()):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"postfix queue not empty after {timeout}s: {counts}\n"
                    f"{self.mailq()}\nlog tail:\n{self.log_tail()}")
            time.sleep(0.1)

    def log(self):
        """The whole maillog as text."""
        return self._log_since(0)
