#!/usr/bin/python3
"""The demo half of contrib/quickstart.sh: starts the stack on loopback with
the e2e harness (a private redis-server, a private Postfix, a sink that stores
what Postfix delivers), shows Sluice talking to it, sends real mail through
it, prints what happened, and stops everything it started.

Usage: quickstart_demo.py BUILDDIR [--keep]
--keep leaves the stack up until Ctrl-C (or SIGTERM), printing how to use it.
"""

import os
import re
import subprocess
import sys
import time

kRoot = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(kRoot, "tests", "e2e"))

from harness import PostfixInstance, RedisServer, Sink, cleanup, swaks  # noqa: E402
from harness.dkim_keys import verify_dkimpy  # noqa: E402
from harness.milter import MilterDaemon  # noqa: E402
from harness.policyd import PolicyDaemon  # noqa: E402
from harness.bounce import BounceSetup, wait_until  # noqa: E402
from harness.scanners import SpamdDaemon  # noqa: E402

# GTUBE: the test string every SpamAssassin install scores as spam.
kGtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# The destination refuses this mailbox: its bounce closes the feedback loop.
kGone = "gone@example.net"

kQuota = """[quota per-account]
key = sasl_username
messages = 2/1h
"""


def step(text):
    print(f"\n==> {text}", flush=True)


def show(lines, prefix="    "):
    for line in lines:
        print(prefix + line, flush=True)


def server_replies(result, last=3):
    return [line for line in result.transcript.splitlines() if line.startswith(("<-", " <-", "<**", " <**"))][-last:]


def run_ctl(builddir, *args):
    ctl = os.path.join(builddir, "ctl", "sluicectl")
    got = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    show((got.stdout + got.stderr).rstrip().splitlines())
    return got.returncode


def send(postfix, to, subject, body="This message went through a real Postfix and sluice-policyd.\n"):
    return swaks.send(postfix, sender="alice@example.test", to=to, auth=("alice", "alice-pw"),
                      extra_args=["--header", f"Subject: {subject}"], body=body)


def milter_config(redis, spamd):
    """[milter] extras: spamd refuses spam; records go to the demo's Redis."""
    return (f"verp = yes\nverp_domain = verp.test\n\n[redis]\nport = {redis.port}\n\n"
            f"[scanner spamd]\ntype = spamd\naddress = {spamd.address}\ntimeout = 15s\n"
            f"on_spam = reject\non_failure = tempfail\n")


class DemoKey:
    """A key made by sluicectl, and the DNS record it printed."""

    def __init__(self, algorithm, path, record):
        self.domain, self.selector, self.algorithm = "example.test", f"demo-{algorithm}", algorithm
        self.path, self.record = path, record
        self.dns_name = f"{self.selector}._domainkey.{self.domain}"


def make_keys(builddir):
    keydir = cleanup.make_dir("dkim-keys")
    keys = []
    for algorithm in ("ed25519", "rsa"):
        ctl = os.path.join(builddir, "ctl", "sluicectl")
        got = subprocess.run([ctl, "dkim", "keygen", "--domain", "example.test", "--selector", f"demo-{algorithm}",
                              "--algorithm", algorithm, "--out", keydir], capture_output=True, text=True, timeout=60)
        lines = got.stdout.rstrip().splitlines()
        show(lines[lines.index("; publish in DNS:") + 1:] if "; publish in DNS:" in lines else lines)
        if got.returncode != 0:
            print(got.stderr)
            return None
        record = "".join(re.findall(r'"([^"]*)"', got.stdout.split("publish in DNS:")[1]))
        keys.append(DemoKey(algorithm, os.path.join(keydir, f"demo-{algorithm}.example.test.key"), record))
    return keys


def feedback_loop(builddir, conf, sink, bounce, postfix):
    """A hard bounce comes back to the VERP address, sluice-bounce
    suppresses the recipient, and the next message to it is refused."""
    step(f"alice writes to {kGone}: the destination answers 550 5.1.1, Postfix bounces it to the VERP "
         "address, pipe(8) hands the bounce to sluice-bounce")
    run_ctl(builddir, "-c", conf, "quota", "reset", "sasl_username=alice@example.test")
    first = send(postfix, kGone, "Your invoice")
    show(server_replies(first, 2))
    wait_until(lambda: "sluice-bounce exit" in bounce.log(), 60, "sluice-bounce to run")
    show([line for line in bounce.log().splitlines() if "kind=" in line][-1:])
    step(f"sluicectl suppress show {kGone} --scope sasl_username=alice@example.test")
    run_ctl(builddir, "-c", conf, "suppress", "show", kGone, "--scope", "sasl_username=alice@example.test")
    step(f"alice writes to {kGone} again: sluice-policyd refuses it at RCPT, nothing leaves")
    again = send(postfix, kGone, "Your invoice (reminder)")
    show(server_replies(again, 3))
    if " 550 5.7.1" not in again.transcript:
        print("the suppressed recipient was not refused:\n" + again.transcript)
        return 1
    return 0


def demo(builddir, redis, sink, policyd, milter, postfix, keep, bounce):
    conf = policyd.config_path
    show([f"redis-server    127.0.0.1:{redis.port}   (no persistence, data in {redis.dir})",
          f"sink            127.0.0.1:{sink.port}   (stores each message in {sink.mail_dir})",
          f"sluice-policyd  127.0.0.1:{policyd.port}   (config {conf}, log {policyd.log_path})",
          f"sluice-milter   127.0.0.1:{milter.port}   (config {milter.config_path}, log {milter.log_path})",
          "spamd           (SpamAssassin, called by sluice-milter for every outbound message)",
          f"postfix         127.0.0.1:{postfix.port}   (config {postfix.etc}, log {postfix.log_path})"])
    step(f"sluicectl -c {conf} -n   (check the configuration)")
    if run_ctl(builddir, "-c", conf, "-n") != 0:
        return 1
    show(["", "the quota rule in it:"] + kQuota.strip().splitlines())
    step("sluicectl status   (is the shared Redis reachable and set up right?)")
    if run_ctl(builddir, "-c", conf, "status") != 0:
        return 1

    step("alice (SMTP AUTH) sends two messages: both within her quota of 2 per hour")
    for n in (1, 2):
        sent = send(postfix, "bob@example.net", f"Hello {n} from the Sluice quickstart")
        show(server_replies(sent, 2))
        if sent.rc != 0:
            print(f"swaks failed (exit {sent.rc}):\n{sent.transcript}")
            return 1
    postfix.wait_queue_empty(30)
    sink.wait_for(2, 15)
    got = sink.messages()[-1]
    step("what the sink received (the second message): signed twice, tracked, X-Mailer removed")
    show([f"MAIL FROM: <{got.mail_from}>", "RCPT TO:   " + ", ".join(f"<{r}>" for r in got.rcpt_tos)])
    show(got.header_block.decode("utf-8", "replace").rstrip("\r\n").split("\r\n"))
    step("an independent verifier (Python dkimpy) checks both signatures with the published records")
    for result in verify_dkimpy(got.raw, milter.keys):
        show([f"{'pass' if result['ok'] else 'FAIL'}  {result['a']}  d={result['d']} s={result['s']}"])
    step("sluice-milter's log line for it")
    show([line for line in milter.log().splitlines() if "sluice_id=" in line][-1:])

    step("a third message: over quota, Postfix defers it with sluice-policyd's answer")
    third = send(postfix, "bob@example.net", "Hello 3")
    show(server_replies(third, 3))
    step("sluicectl quota show sasl_username=alice@example.test")
    run_ctl(builddir, "-c", conf, "quota", "show", "sasl_username=alice@example.test")

    step("carol@example.net complained: sluicectl suppress add carol@example.net --reason complaint")
    run_ctl(builddir, "-c", conf, "suppress", "add", "carol@example.net", "--reason", "complaint")
    run_ctl(builddir, "-c", conf, "quota", "reset", "sasl_username=alice@example.test")
    step("a message to carol and dave: carol is refused at RCPT, dave's copy is delivered")
    mixed = send(postfix, ["carol@example.net", "dave@example.net"], "Newsletter")
    show(server_replies(mixed, 6))
    postfix.wait_queue_empty(30)
    got = sink.wait_for(3, 15)[-1]
    show([f"the sink got one copy for: {', '.join(got.rcpt_tos)}"])

    step("alice sends the GTUBE test spam: spamd scores it, sluice-milter refuses it at end of DATA")
    run_ctl(builddir, "-c", conf, "quota", "reset", "sasl_username=alice@example.test")
    spam = send(postfix, "bob@example.net", "Totally legitimate offer", body=f"Buy now!\n{kGtube}\n")
    show(server_replies(spam, 2))
    show([line for line in milter.log().splitlines() if "scan=" in line][-1:])
    if " 550 5.7.1" not in spam.transcript:
        print("the GTUBE message was not refused:\n" + spam.transcript)
        return 1
    step("sluicectl scan stats   (scanner verdicts per account, worst first)")
    run_ctl(builddir, "-c", conf, "scan", "stats")

    if feedback_loop(builddir, conf, sink, bounce, postfix) != 0:
        return 1

    step("sluice-policyd's log: one line per decision")
    show([line for line in policyd.log().splitlines() if "decision=" in line and "dunno" not in line][-3:])
    step("Postfix's log for the refusals")
    show([line for line in postfix.log().splitlines() if "reject:" in line][-2:])

    if keep:
        step("--keep: the stack stays up; press Ctrl-C to stop it")
        show([f"swaks --server 127.0.0.1:{postfix.port} --auth-user alice --auth-password alice-pw "
              f"--from alice@example.test --to b@example.net",
              f"redis-cli -p {redis.port}",
              f"{builddir}/ctl/sluicectl -c {conf} status"])
        while True:
            time.sleep(3600)
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    builddir = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv[2:]
    os.environ["SLUICE_BUILDDIR"] = builddir
    cleanup.install_signal_handlers()
    cleanup.reap_stale(verbose=True)
    try:
        step("sluicectl dkim keygen: an Ed25519 and an RSA key for example.test, and the DNS records to publish")
        keys = make_keys(builddir)
        if keys is None:
            return 1
        step("starting a private redis-server, an SMTP sink, sluice-policyd, spamd, sluice-milter and a private "
             "Postfix on 127.0.0.1")
        gone = f"550 5.1.1 <{kGone}>: Recipient address rejected: User unknown in virtual mailbox table"
        with RedisServer() as redis, Sink(rcpt={kGone: gone}) as sink, \
                PolicyDaemon(redis, config=kQuota) as policyd, \
                SpamdDaemon() as spamd, \
                MilterDaemon(keys=keys, signing=[("*@example.test", k) for k in keys],
                             rules="remove X-Mailer\nremove User-Agent\n",
                             milter_keys=milter_config(redis, spamd)) as milter:
            policy = f"check_policy_service inet:127.0.0.1:{policyd.port}"
            bounce = BounceSetup(redis)
            with PostfixInstance(relay=sink, sasl_users={"alice": "alice-pw"},
                                 master_cf=bounce.master_cf(),
                                 main_cf={"mynetworks": "",
                                          # contrib/postfix/bounce.main.cf: bounces to the VERP
                                          # domain go to sluice-bounce.
                                          "transport_maps": "inline:{ verp.test=sluicebounce: }",
                                          "sluicebounce_destination_recipient_limit": "1",
                                          "relay_domains": "verp.test",
                                          "smtpd_recipient_restrictions": [policy],
                                          "smtpd_end_of_data_restrictions": [policy],
                                          "smtpd_policy_service_timeout": "5s",
                                          "smtpd_milters": milter.socket_spec,
                                          "milter_default_action": "tempfail"}) as postfix:
                if demo(builddir, redis, sink, policyd, milter, postfix, keep, bounce) != 0:
                    return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        cleanup.stop_all()
        cleanup.remove_run_root()
        print("\n==> stopped everything the quickstart started", flush=True)


if __name__ == "__main__":
    sys.exit(main())
