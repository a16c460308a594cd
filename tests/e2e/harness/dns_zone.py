"""A private DNS for tests that read published records (`sluicectl dns check`).

DnsZones writes zone files and an nsd.conf into its own directory; run(argv)
starts a fresh network + mount + PID namespace (`unshare --net --mount --pid
--fork --kill-child --mount-proc`), brings up its loopback, bind-mounts a
resolv.conf naming 127.0.0.1 over /etc/resolv.conf (inside the namespace
only), starts nsd there on 127.0.0.1:53 serving the zones, waits until each
zone answers, then runs argv as the namespace's PID 1. When argv exits the
kernel kills everything else in the namespace (nsd), and --kill-child kills
the namespace if unshare itself dies (timeout, harness killed): no daemon
outlives the run, and the host's resolver is never touched. Names outside
the zones get REFUSED, which resolvers report as a DNS failure.

    with DnsZones() as dns:
        dns.zone("example.test", [txt("@", "v=spf1 -all")])
        got = dns.run([sluice_binary("sluicectl"), "dns", "check", "example.test"])

Needs root (the e2e tests run as root), nsd, dig and ip. About 0.1 s a run.
"""

import os
import subprocess

from . import cleanup

kNsd = "/usr/sbin/nsd"
kTools = [("/usr/sbin/nsd", "nsd"), ("/usr/bin/dig", "bind9-dnsutils"),
          ("/usr/sbin/ip", "iproute2"), ("/usr/bin/unshare", "util-linux")]

# Inside the namespace: $1 is the directory, $2.. the zones, then "--" argv.
kInner = r"""set -e
dir=$1; shift
zones=
while [ "$1" != "--" ]; do zones="$zones $1"; shift; done
shift
ip link set lo up
mount --bind "$dir/resolv.conf" /etc/resolv.conf
nsd -d -c "$dir/nsd.conf" >>"$dir/nsd.log" 2>&1 &
for zone in $zones; do
  tries=0
  until [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 "$zone" SOA 2>/dev/null)" ]; do
    tries=$((tries + 1))
    if [ $tries -ge 100 ]; then echo "dns_zone: nsd does not serve $zone" >&2; exit 97; fi
    sleep 0.05
  done
done
exec "$@"
"""

kResolvConf = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def missing_tools():
    """Problems that stop these tests, each naming the Debian package."""
    return [f"{path} missing: apt-get install {package}"
            for path, package in kTools if not os.path.exists(path)]


def quote_txt(text):
    """TXT data in zone-file form: 250-byte strings, '"' and '\\' escaped."""
    data = text.encode()
    chunks = [data[i:i + 250] for i in range(0, len(data), 250)] or [b""]
    out = []
    for chunk in chunks:
        escaped = "".join(
            "\\" + chr(b) if b in (0x22, 0x5C) else
            chr(b) if 0x20 <= b < 0x7F else f"\\{b:03d}" for b in chunk)
        out.append(f'"{escaped}"')
    return " ".join(out)


def txt(name, text):
    """One zone-file line: a TXT record of `name` (relative, or '@')."""
    return f"{name} IN TXT {quote_txt(text)}"


class DnsZones(cleanup.Fixture):
    """Zones served by nsd in a private namespace, one namespace per run()."""

    def __init__(self):
        self.dir = cleanup.make_dir("dns")
        self.log_path = os.path.join(self.dir, "nsd.log")
        self._zones = {}

    def __repr__(self):
        return f"<DnsZones {sorted(self._zones)}>"

    def start(self):
        problems = missing_tools()
        if problems:
            raise RuntimeError("; ".join(problems))
        cleanup.register(self)
        return self

    def stop(self):
        pass  # nothing runs between run() calls

    def zone(self, origin, lines):
        """Serves `origin` with an SOA, an NS and `lines` (zone-file lines,
        names relative to origin; see txt()). Replaces an earlier zone."""
        origin = origin.rstrip(".").lower()
        path = os.path.join(self.dir, f"{origin}.zone")
        with open(path, "w") as f:
            f.write(f"$ORIGIN {origin}.\n$TTL 60\n"
                    f"@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60\n"
                    f"@ IN NS ns.{origin}.\nns IN A 127.0.0.1\n")
            for line in lines:
                f.write(line.rstrip("\n") + "\n")
        self._zones[origin] = path
        self._write_config()

    def drop_zone(self, origin):
        origin = origin.rstrip(".").lower()
        os.unlink(self._zones.pop(origin))
        self._write_config()

    def _write_config(self):
        d = self.dir
        zones = "".join(f'zone:\n  name: "{name}"\n  zonefile: "{path}"\n'
                        for name, path in sorted(self._zones.items()))
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.write(f'server:\n  ip-address: 127.0.0.1\n  port: 53\n  username: ""\n'
                    f'  chroot: ""\n  database: ""\n  server-count: 1\n  verbosity: 1\n'
                    f'  pidfile: "{d}/nsd.pid"\n  logfile: "{d}/nsd.log"\n'
                    f'  zonelistfile: "{d}/zone.list"\n  xfrdfile: "{d}/xfrd.state"\n'
                    f'  xfrdir: "{d}"\n'
                    f"remote-control:\n  control-enable: no\n{zones}")
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write(kResolvConf)
        with open(os.path.join(d, "inner.sh"), "w") as f:
            f.write(kInner)

    def run(self, argv, timeout=60):
        """Runs argv inside a fresh namespace with the zones served; returns
        CompletedProcess (text, stdout and stderr apart)."""
        if not self._zones:
            raise RuntimeError("DnsZones.run() without a zone")
        command = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child",
                   "--mount-proc", "/bin/sh", os.path.join(self.dir, "inner.sh"), self.dir,
                   *sorted(self._zones), "--", *argv]
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=timeout, cwd=self.dir,
                              env=cleanup.child_env(), preexec_fn=cleanup.die_with_parent)
