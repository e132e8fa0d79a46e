"""The network guard, layer by layer (tests/netguard/sitecustomize.py): a process started with
``smk.guarded_env`` (Snakemake, its jobs, Slurm job steps), a subprocess that only inherits the
pytest process's environment (tests/conftest.py), and the pytest process itself. Each refuses a
TCP connection to a port that really listens (so only the guard can stop it) and every kind of
name lookup, and writes a line to its log; Unix sockets and a process's own loopback test
server keep working."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from . import smk
from .conftest import NETGUARD_DIR
from .netguard import sitecustomize as netguard

# What a guarded child tries: each line prints "refused <what>" or "allowed <what>".
PROBE = r"""
import json, os, socket, sys, urllib.request
port, unix_path = int(sys.argv[1]), sys.argv[2]
out = {"guard": "sitecustomize" in sys.modules and sys.modules["sitecustomize"].installed()}

def attempt(name, fn):
    try:
        fn()
    except OSError as e:
        out[name] = "refused" if "sftmix test guard" in str(e) else f"failed: {e}"
    else:
        out[name] = "allowed"

def tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))

def tcp_ex():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    if s.connect_ex(("127.0.0.1", port)) != 0:
        raise OSError("connect_ex: not connected")

def udp():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", port))

attempt("connect", tcp)
attempt("connect_ex", tcp_ex)
attempt("sendto", udp)
attempt("create_connection", lambda: socket.create_connection(("localhost", port), timeout=5))
attempt("gethostbyname", lambda: socket.gethostbyname("example.com"))
attempt("gethostbyname_ex", lambda: socket.gethostbyname_ex("example.com"))
attempt("getaddrinfo", lambda: socket.getaddrinfo("example.com", 443))
attempt("urlopen", lambda: urllib.request.urlopen("https://huggingface.co", timeout=5))

def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(unix_path)
    s.sendall(b"ping")
    s.close()

attempt("unix", unix)

def own_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(("127.0.0.1", srv.getsockname()[1]), timeout=5)
    c.close(); srv.close()

attempt("own_loopback_server", own_server)
attempt("numeric_getaddrinfo", lambda: socket.getaddrinfo("127.0.0.1", 80))
print(json.dumps(out))
"""

REFUSED = ("connect", "connect_ex", "sendto", "create_connection", "gethostbyname", "gethostbyname_ex",
           "getaddrinfo", "urlopen")
ALLOWED = ("unix", "own_loopback_server", "numeric_getaddrinfo")


@pytest.fixture
def listeners(tmp_path):
    """A TCP port and a Unix socket that really listen, in this process (non-blocking: after the
    probe, ``accept`` tells whether a connection ever arrived)."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    unix_path = str(tmp_path / "u.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(8)
    yield tcp, unix_path
    tcp.close()
    unix.close()


def _probe(env: dict[str, str], port: int, unix_path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(port), unix_path], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(result: dict, attempts: list[str], tcp: socket.socket) -> None:
    assert result["guard"] is True, result
    assert {k: result[k] for k in REFUSED} == dict.fromkeys(REFUSED, "refused"), result
    assert {k: result[k] for k in ALLOWED} == dict.fromkeys(ALLOWED, "allowed"), result
    with pytest.raises(BlockingIOError):
        tcp.accept()  # no connection ever reached the listening port
    port = tcp.getsockname()[1]
    for what in (f"connect ('127.0.0.1', {port})", f"sendto ('127.0.0.1', {port})", "gethostbyname 'example.com'",
                 "gethostbyname_ex 'example.com'", "getaddrinfo 'example.com'", "getaddrinfo 'localhost'",
                 "getaddrinfo 'huggingface.co'"):
        assert any(a.startswith(what + "\t") for a in attempts), (what, attempts)
    assert all("\tpid=" in a for a in attempts)
    assert len(attempts) == len(REFUSED), attempts  # the allowed ones left no record


def test_a_process_started_with_guarded_env_cannot_resolve_or_connect(tmp_path, listeners):
    tcp, unix_path = listeners
    env = smk.guarded_env(tmp_path)
    _check(_probe(env, tcp.getsockname()[1], unix_path), smk.network_attempts(tmp_path), tcp)


def test_a_subprocess_inheriting_the_test_environment_is_guarded(tmp_path, listeners):
    """conftest put the guard into the pytest process's environment: a test that starts Python
    with a plain copy of ``os.environ`` (tests/test_sft.py's torchrun did) still gets it."""
    tcp, unix_path = listeners
    assert str(NETGUARD_DIR) in os.environ["PYTHONPATH"].split(os.pathsep)
    log = tmp_path / "inherited.log"
    env = {**os.environ, netguard.LOG_VAR: str(log)}  # the session's log is for unexpected attempts
    _check(_probe(env, tcp.getsockname()[1], unix_path), netguard.attempts(log), tcp)


def test_the_pytest_process_itself_is_guarded(tmp_path, listeners):
    tcp, unix_path = listeners
    assert netguard.installed()
    other = subprocess.Popen([sys.executable, "-c",
                              "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
                              "print(s.getsockname()[1], flush=True); sys.stdin.read()"],
                             env=smk.guarded_env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        foreign_port = int(other.stdout.readline())
        log = tmp_path / "pytest_process.log"
        old = netguard.set_log(log)
        try:
            for fn in (lambda: socket.create_connection(("127.0.0.1", foreign_port), timeout=5),
                       lambda: socket.gethostbyname("example.com"),
                       lambda: socket.gethostbyname_ex("example.com"),
                       lambda: socket.getaddrinfo("example.com", 443)):
                with pytest.raises(OSError, match="sftmix test guard"):
                    fn()
        finally:
            netguard.set_log(old)
        # its own loopback server (tests/test_judge.py, tests/test_tagging.py) and Unix sockets work
        socket.create_connection(("127.0.0.1", tcp.getsockname()[1]), timeout=5).close()
        tcp.setblocking(True)
        tcp.settimeout(5)
        tcp.accept()[0].close()
        u = socket.socket(socket.AF_UNIX)
        u.connect(unix_path)
        u.close()
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    attempts = netguard.attempts(log)
    assert [a.split("\t")[0] for a in attempts] == [
        f"connect ('127.0.0.1', {foreign_port})", "gethostbyname 'example.com'",
        "gethostbyname_ex 'example.com'", "getaddrinfo 'example.com'"], attempts
    assert all(f"pid={os.getpid()}" in a for a in attempts)
    assert smk.network_attempts(tmp_path) == []  # the other process bound and listened: no attempt
    assert netguard.log_path() == os.environ[netguard.LOG_VAR]  # the session's log is back


def test_the_session_fails_on_an_attempt_nobody_expected(tmp_path):
    """The final check of tests/conftest.py: a pytest session whose test makes a network call
    (caught by the test itself) still ends non-zero and names the attempt."""
    (tmp_path / "test_sneaky.py").write_text(
        "import socket\n\ndef test_sneaky():\n    try:\n        socket.gethostbyname('example.com')\n"
        "    except OSError:\n        pass\n")
    env = {k: v for k, v in os.environ.items() if k not in (netguard.LOG_VAR, "PYTHONPATH")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", os.devnull,
                           "-p", "tests.conftest", str(tmp_path / "test_sneaky.py")],
                          env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TMPDIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "1 passed" in out, out[-3000:]
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    assert "network guard: 1 network attempt" in out and "gethostbyname 'example.com'" in out, out[-3000:]
