"""Test messages for the milter tests (test_milter.py behind Postfix,
test_milter_sendmail.py behind Sendmail): the same mail through either MTA,
so the signatures can be compared."""

import email.utils
import re

# The milter's tracking header as the sink stores it (CRLF line ends).
kTrackingIdPattern = re.compile(rb"^X-Sluice-ID: ([0-9a-z]{26})\r$", re.M)


def crlf(text):
    """`text` (str or bytes) as bytes with every line ending CRLF, the form
    SMTP carries; existing CRLFs stay single."""
    if isinstance(text, str):
        text = text.encode()
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message(body="Hello.\n", headers="", subject="test"):
    """A message from alice@example.test (the signing domain) to
    bob@example.net, with a fresh Date and Message-ID; `headers` are extra
    header lines ("Name: value\\n" each) after the standard ones."""
    return crlf(f"From: Alice <alice@example.test>\nTo: bob@example.net\nSubject: {subject}\n"
                f"Date: {email.utils.formatdate()}\n"
                f"Message-ID: {email.utils.make_msgid('t', 'example.test')}\n{headers}\n") + crlf(body)
