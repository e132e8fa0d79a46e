"""Network guard for test runs (on PYTHONPATH of every process the tests start).

Refuses any socket connection that is not a Unix socket, and any DNS lookup, and appends what
was tried (with the process's command line) to ``$SFTMIX_NETGUARD_LOG``. The default run must make
no network call; with this guard a code path that tries fails loudly and leaves a record.
"""

import os
import socket
import sys

_LOG = os.environ.get("SFTMIX_NETGUARD_LOG")


def _refuse(what):
    if _LOG:
        try:
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"{what}\tpid={os.getpid()}\t{' '.join(sys.argv)[:300]}\n")
        except OSError:
            pass
    raise OSError(f"network access blocked by the sftmix test guard: {what}")


if _LOG:
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _guard(real):
        def connect(self, address):
            if self.family == getattr(socket, "AF_UNIX", None):
                return real(self, address)
            _refuse(f"connect {address!r}")

        return connect

    def _getaddrinfo(host, *args, **kwargs):
        _refuse(f"getaddrinfo {host!r}")

    socket.socket.connect = _guard(_connect)
    socket.socket.connect_ex = _guard(_connect_ex)
    socket.getaddrinfo = _getaddrinfo
