"""SMTP clients for tests: swaks for single messages, smtp-source for volume.

Both run with stdin=/dev/null and a timeout, and return (exit code, output);
neither raises on an SMTP failure, so a test asserts on the code and the
transcript. swaks exit codes (swaks(1) EXIT CODES): 0 ok, 2 connect, 21 banner,
22 HELO, 23 MAIL, 24 no RCPT accepted, 25 DATA, 26 message refused after DATA,
28 AUTH, 29 TLS.
"""

import collections
import os
import subprocess
import tempfile

from . import cleanup, ports

kSwaks = "/usr/bin/swaks"
kSmtpSource = "/usr/sbin/smtp-source"

Result = collections.namedtuple("Result", "rc transcript")


def _target(port):
    return port.port if hasattr(port, "port") else int(port)


def send(port, *, sender="alice@example.test", to="bob@example.net",
         headers=(), body=None, data=None, auth=None, auth_type="PLAIN",
         helo="client.example.test", server=ports.kHost, timeout=60,
         extra_args=()):
    """Sends one message with swaks to server:port; returns Result(rc,
    transcript).

    port: a number or a fixture with .port (PostfixInstance).
    sender: envelope sender ("" for the null sender). to: address or list.
    headers: ["Name: value", ...] added by swaks (--add-header).
    body: text for swaks' default message (which adds Date, Message-Id...).
    data: the whole message (bytes or str), sent instead of swaks' template;
        or "@path". Bytes with CRLF line ends arrive byte-exact: swaks
        always adds CRLF before the final ".", so one trailing CRLF is
        removed here (and a message without one gets it).
    auth: (user, password) for SMTP AUTH with auth_type (PLAIN, LOGIN).
    """
    rcpts = [to] if isinstance(to, str) else list(to)
    argv = [kSwaks, "--server", f"{server}:{_target(port)}",
            "--from", sender, "--to", ",".join(rcpts), "--helo", helo,
            "--timeout", str(timeout), "--hide-informational"]
    for header in headers:
        argv += ["--add-header", header]
    if body is not None:
        argv += ["--body", body]
    if auth is not None:
        argv += ["--auth", auth_type, "--auth-user", auth[0],
                 "--auth-password", auth[1]]
    tmp = None
    try:
        if data is not None:
            if isinstance(data, str) and data.startswith("@"):
                argv += ["--data", data]
            else:
                if isinstance(data, str):
                    data = data.encode()
                if data.endswith(b"\r\n"):
                    data = data[:-2]
                fd, tmp = tempfile.mkstemp(prefix="data-", suffix=".eml",
                                           dir=cleanup.run_root())
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                argv += ["--data", "@" + tmp]
        argv += list(extra_args)
        try:
            result = cleanup.run(argv, timeout=timeout + 10)
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
            return Result(-1, out + f"\n(swaks timed out after {timeout}s)")
        return Result(result.returncode, result.stdout)
    finally:
        if tmp:
            os.unlink(tmp)


def smtp_source(port, count, *, sessions=10, recipients=1,
                sender="source@example.test", to="sink@example.net",
                size=None, subject=None, reuse_connection=False,
                server=ports.kHost, timeout=120, extra_args=()):
    """Sends `count` messages with Postfix's smtp-source; returns Result.

    sessions: parallel SMTP sessions (-s). recipients: per message (-r;
    smtp-source numbers them: 1to, 2to...). size: body bytes (-l).
    reuse_connection: several messages per connection (-d).
    """
    argv = [kSmtpSource, "-m", str(count), "-s", str(sessions),
            "-r", str(recipients), "-f", sender, "-t", to,
            "-M", "source.example.test"]
    if size is not None:
        argv += ["-l", str(size)]
    if subject is not None:
        argv += ["-S", subject]
    if reuse_connection:
        argv.append("-d")
    argv += list(extra_args)
    argv.append(f"inet:{server}:{_target(port)}")
    try:
        result = cleanup.run(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result(-1, f"smtp-source timed out after {timeout}s")
    return Result(result.returncode, result.stdout)
