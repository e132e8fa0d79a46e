"""Network guard for test runs: every process of a test run starts with it.

Two ways in:

* child processes: this folder is on their ``PYTHONPATH``, so Python imports this file as
  ``sitecustomize`` at start-up and installs the guard when ``SFTMIX_NETGUARD_LOG`` is set
  (``tests/smk.guarded_env`` for workflow runs; tests/conftest.py puts both into the pytest
  process's own environment, so every subprocess a test starts inherits them);
* the pytest process itself: tests/conftest.py calls :func:`install` at session start.

Refused, and appended to the log (what was tried, pid, command line): ``connect``/``connect_ex``/
``sendto`` of any socket that is not a Unix socket, and name resolution (``getaddrinfo`` of a host
name, ``gethostbyname``, ``gethostbyname_ex``; ``create_connection`` and urllib go through
``getaddrinfo`` and ``connect``). A refused call raises ``OSError``, so a code path that reaches
for the network fails loudly and leaves a record.

Allowed without a record, because no packet leaves the machine or a name is looked up:

* Unix sockets (Slurm's munge, multiprocessing);
* ``getaddrinfo`` of a numeric address or of ``None`` (resolved with ``AI_NUMERICHOST``);
* a connection to a loopback port that this same process has bound: an in-process stub server
  (tests/test_judge.py, tests/test_tagging.py run an OpenAI-like endpoint on 127.0.0.1 and call it
  from the same process).

Not seen: sockets opened by native code (C++, Rust) rather than through Python's ``socket``
module. torchrun in tests/test_sft.py is the case in point: ``torch.distributed.run --standalone``
serves its rendezvous store and gloo connects its workers over TCP on 127.0.0.1, all in C++, so
the guarded launcher and workers run without an exemption (on this torch the launcher makes no
Python-level connect or lookup; if one ever does, that test fails with a record here, and any
exemption must be explicit, not a loophole of this file). The hub clients are kept off the
network by ``HF_HUB_OFFLINE`` and friends, set wherever this guard is.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

LOG_VAR = "SFTMIX_NETGUARD_LOG"

_real: dict[str, object] = {}
_state: dict[str, object] = {"log": None, "own_ports": set()}


def _write(line: str) -> None:
    log = _state["log"]
    if not log:
        return
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{line}\tpid={os.getpid()}\t{' '.join(sys.argv)[:300]}\n")
    except OSError as e:  # the refusal still raises; say so where someone may see it
        print(f"sftmix netguard: could not record {line!r} in {log}: {e}", file=sys.stderr)


def _refuse(what: str):
    _write(what)
    raise OSError(f"network access blocked by the sftmix test guard: {what}")


def _numeric(host) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _is_inet(sock) -> bool:
    return sock.family != getattr(socket, "AF_UNIX", None)


def _own_loopback(address) -> bool:
    """Is ``address`` a loopback port this process has bound (an in-process test server)?"""
    if not isinstance(address, tuple) or len(address) < 2:
        return False
    ip = _numeric(address[0])
    return ip is not None and ip.is_loopback and address[1] in _state["own_ports"]


def _guard_connect(real):
    def connect(self, address):
        if _is_inet(self) and not _own_loopback(address):
            _refuse(f"connect {address!r}")
        return real(self, address)

    return connect


def _guard_sendto(real):
    def sendto(self, data, *args):
        if _is_inet(self) and not _own_loopback(args[-1]):
            _refuse(f"sendto {args[-1]!r}")
        return real(self, data, *args)

    return sendto


def _guard_bind(real):
    def bind(self, address):
        result = real(self, address)
        if _is_inet(self):
            try:
                _state["own_ports"].add(self.getsockname()[1])
            except (OSError, IndexError, TypeError):
                pass
        return result

    return bind


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if host is None or _numeric(host) is not None:
        return _real["getaddrinfo"](host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    _refuse(f"getaddrinfo {host!r}")


def _gethostbyname(host):
    if _numeric(host) is not None:
        return _real["gethostbyname"](host)
    _refuse(f"gethostbyname {host!r}")


def _gethostbyname_ex(host):
    if _numeric(host) is not None:
        return _real["gethostbyname_ex"](host)
    _refuse(f"gethostbyname_ex {host!r}")


def install(log: str | os.PathLike | None) -> None:
    """Guard this process; refusals go to ``log``. Idempotent: a second call only changes the log."""
    _state["log"] = os.fspath(log) if log else None
    if _real:
        return
    s = socket.socket
    _real.update(connect=s.connect, connect_ex=s.connect_ex, sendto=s.sendto, bind=s.bind,
                 getaddrinfo=socket.getaddrinfo, gethostbyname=socket.gethostbyname,
                 gethostbyname_ex=socket.gethostbyname_ex)
    s.connect = _guard_connect(_real["connect"])
    s.connect_ex = _guard_connect(_real["connect_ex"])
    s.sendto = _guard_sendto(_real["sendto"])
    s.bind = _guard_bind(_real["bind"])
    socket.getaddrinfo = _getaddrinfo
    socket.gethostbyname = _gethostbyname
    socket.gethostbyname_ex = _gethostbyname_ex


def installed() -> bool:
    return bool(_real) and socket.socket.connect is not _real["connect"]


def log_path() -> str | None:
    return _state["log"]


def set_log(log: str | os.PathLike | None) -> str | None:
    """Send refusals to ``log`` from now on; returns the previous log (tests of the guard itself
    point it at their own file, so the session's record only holds what nobody meant to try)."""
    old = _state["log"]
    _state["log"] = os.fspath(log) if log else None
    return old


def attempts(log: str | os.PathLike | None) -> list[str]:
    """The refused attempts recorded in ``log``."""
    if not log or not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as fh:
        return [line for line in fh.read().splitlines() if line]


if os.environ.get(LOG_VAR):
    install(os.environ[LOG_VAR])
