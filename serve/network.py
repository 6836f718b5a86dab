"""Who may connect: loopback by default, anything else only with a key.

Shared by the HTTP server (`python -m serve`) and the demo (`python -m demo`): a server binds
127.0.0.1 unless told otherwise, and binding any other address needs an API key, compared in
constant time so that its bytes cannot be guessed one by one from response times. And where
to put a server that is started for a while (`free_ports`, for tests and benchmarks).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket

from cocodiff.errors import CocodiffError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_key_off_loopback(host: str, key: str | None, *, how: str) -> None:
    """One line, refusing to start, when `host` is not loopback and there is no key; `how` says
    how to give one."""
    if not is_loopback(host) and not key:
        raise CocodiffError(f"--host {host} is not loopback: {how}")


def key_matches(given: str | None, expected: str) -> bool:
    """`given` equals `expected`, in time that does not depend on where they differ."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def free_ports(count: int = 1, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct TCP ports on `host` that nothing listens on now (held open together
    while chosen, so they differ), for servers that tests and benchmarks start."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()
