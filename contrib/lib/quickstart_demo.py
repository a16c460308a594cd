#!/usr/bin/python3
"""The demo half of contrib/quickstart.sh: starts the stack on loopback with
the e2e harness (a private redis-server, a private Postfix, a sink that stores
what Postfix delivers), shows Sluice talking to it, sends real mail through
it, prints what happened, and stops everything it started.

Usage: quickstart_demo.py BUILDDIR [--keep]
--keep leaves the stack up until Ctrl-C (or SIGTERM), printing how to use it.
"""

import os
import subprocess
import sys
import time

kRoot = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(kRoot, "tests", "e2e"))

from harness import PostfixInstance, RedisServer, Sink, cleanup, swaks  # noqa: E402


def step(text):
    print(f"\n==> {text}", flush=True)


def show(lines, prefix="    "):
    for line in lines:
        print(prefix + line, flush=True)


def run_ctl(builddir, *args):
    ctl = os.path.join(builddir, "ctl", "sluicectl")
    got = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    show((got.stdout + got.stderr).rstrip().splitlines())
    return got.returncode


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    builddir = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    os.environ["SLUICE_BUILDDIR"] = builddir
    cleanup.install_signal_handlers()
    cleanup.reap_stale(verbose=True)
    try:
        step("starting a private redis-server, an SMTP sink and a private Postfix on 127.0.0.1")
        with RedisServer() as redis, Sink() as sink, PostfixInstance(relay=sink) as postfix:
            show([f"redis-server  127.0.0.1:{redis.port}   (no persistence, data in {redis.dir})",
                  f"sink          127.0.0.1:{sink.port}   (stores each message in {sink.mail_dir})",
                  f"postfix       127.0.0.1:{postfix.port}   (config {postfix.etc}, log {postfix.log_path})"])

            conf_dir = cleanup.make_dir("quickstart")
            conf = os.path.join(conf_dir, "sluice.conf")
            with open(conf, "w") as f:
                f.write(f"[redis]\nhost = 127.0.0.1\nport = {redis.port}\n\n[log]\nlevel = info\n")
            step(f"sluicectl -c {conf} -n   (check the configuration)")
            if run_ctl(builddir, "-c", conf, "-n") != 0:
                return 1
            step("sluicectl status   (is the shared Redis reachable and set up right?)")
            if run_ctl(builddir, "-c", conf, "status") != 0:
                return 1

            step(f"swaks: alice@example.test -> bob@example.net through Postfix on port {postfix.port}")
            sent = swaks.send(postfix, sender="alice@example.test", to="bob@example.net",
                              headers=["Subject: Hello from the Sluice quickstart"],
                              body="It works: this message went through a real Postfix.\n")
            show([line for line in sent.transcript.splitlines() if line.startswith(("<-", " <-"))][-3:])
            if sent.rc != 0:
                print(f"swaks failed (exit {sent.rc})")
                return 1
            postfix.wait_queue_empty(30)
            [got] = sink.wait_for(1, 15)

            step("what the sink received")
            show([f"MAIL FROM: <{got.mail_from}>", "RCPT TO:   " + ", ".join(f"<{r}>" for r in got.rcpt_tos)])
            header_lines = got.header_block.decode("utf-8", "replace").rstrip("\r\n").split("\r\n")
            show(header_lines)
            show(["", got.body.decode("utf-8", "replace").rstrip()])

            step("Postfix's log for it")
            show([line for line in postfix.log().splitlines()
                  if "status=" in line or "message-id=" in line or "from=<" in line][-4:])

            step("the milter (DKIM, tracking ID) and the policy daemon (quotas, suppressions) join this "
                 "demo as they land")
            if keep:
                step("--keep: the stack stays up; press Ctrl-C to stop it")
                show([f"swaks --server 127.0.0.1:{postfix.port} --from a@example.test --to b@example.net",
                      f"redis-cli -p {redis.port}",
                      f"{builddir}/ctl/sluicectl -c {conf} status"])
                while True:
                    time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        cleanup.stop_all()
        cleanup.remove_run_root()
        print("\n==> stopped everything the quickstart started", flush=True)


if __name__ == "__main__":
    sys.exit(main())
