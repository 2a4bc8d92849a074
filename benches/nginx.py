"""nginx from Debian's packages as the benchmarks' sink (not part of ossfast).

``Nginx(tls=(cert, key))`` starts ``nginx`` in the foreground (``daemon off``) with its own
config, pid file and error log in a temporary directory, listening on free loopback ports (HTTP,
and HTTPS when given a certificate). Every request, whatever its method and path, is answered
``200`` with an ``x-oss-request-id`` header and an empty body; nginx reads and discards the request
body (``return 200`` discards it), with keep-alive on and no limit on body size or requests per
connection. One worker process, so ``pin(cpus)`` places the whole sink.

It is stopped by ``stop()`` / the ``with`` block, and by an ``atexit`` hook if the bench dies
first. ``ensure_nginx(install=True)`` finds the binary, installing the ``nginx-light`` package
with apt-get when it is missing and we are root; ``open_sink()`` falls back to the project's own
``sink.py`` when nginx cannot be had, and says so in ``.kind`` / ``.note``.

Run by hand: ``python benches/nginx.py [--ensure] [--serve]``.
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Set, Tuple

CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; multi_accept on; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    client_max_body_size 0;
    client_body_timeout 600s;
    lingering_time 3600s;
    lingering_timeout 60s;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port} reuseport;
{tls_listen}
        location / {{
            add_header x-oss-request-id $request_id always;
            return 200;
        }}
    }}
}}
"""
TLS_LISTEN = """\
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m;
"""
APT_PACKAGE = "nginx-light"


def find_nginx() -> Optional[str]:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def ensure_nginx(install: bool = True, log=print) -> Optional[str]:
    """The nginx binary; with ``install``, apt-get installs Debian's nginx-light when missing
    (services are not started by the package: the bench runs its own)."""
    path = find_nginx()
    if path or not install:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("nginx: not installed, and apt-get is not usable here")
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"nginx: installing Debian's {APT_PACKAGE} (apt-get)")
    for cmd in (["apt-get", "install", "-y", "-q", APT_PACKAGE], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", APT_PACKAGE]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if cmd[1] == "install" and proc.returncode == 0:
            break
    return find_nginx()


def nginx_version(binary: str) -> str:
    proc = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (proc.stderr or proc.stdout).strip().split("/", 1)[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Nginx:
    """A private nginx: ``url``, ``tls_url`` (or None), ``pin(cpus)``, ``stop()``."""

    kind = "nginx"

    def __init__(self, binary: Optional[str] = None, tls: Optional[Tuple[str, str]] = None,
                 start_timeout: float = 15.0) -> None:
        self.binary = binary or find_nginx()
        if not self.binary:
            raise FileNotFoundError("nginx is not installed")
        self.version = nginx_version(self.binary)
        self.note = f"nginx {self.version} (Debian package), one worker, return 200, bodies discarded"
        self.tmp = tempfile.mkdtemp(prefix="ossfast-nginx-")
        os.chmod(self.tmp, 0o755)  # the worker runs as nobody when we are root
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        tls_listen = TLS_LISTEN.format(tls_port=self.tls_port, cert=tls[0], key=tls[1]) if tls else ""
        self.conf = os.path.join(self.tmp, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(tmp=self.tmp, port=self.port, tls_listen=tls_listen))
        self.host = "127.0.0.1"
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}" if tls else None
        self.proc = subprocess.Popen(
            [self.binary, "-p", self.tmp, "-c", self.conf, "-e", os.path.join(self.tmp, "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.stop()
                raise RuntimeError(f"nginx exited at start: {err}{self._log()}")
            if self._listening() and self.workers():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nginx did not start listening" + self._log())
            time.sleep(0.02)

    def _log(self) -> str:
        try:
            with open(os.path.join(self.tmp, "error.log")) as f:
                return "\n" + f.read()[-2000:]
        except OSError:
            return ""

    def _listening(self) -> bool:
        for port in filter(None, (self.port, self.tls_port)):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def workers(self) -> List[int]:
        return _children(self.proc.pid)

    def pin(self, cpus: Optional[Set[int]]) -> None:
        """Put master and worker on ``cpus`` (None: every CPU this process may use)."""
        cpus = set(cpus) if cpus else os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))
        for pid in [self.proc.pid] + self.workers():
            try:
                os.sched_setaffinity(pid, cpus)
            except OSError:
                pass

    def stop(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc is not None and proc.stderr:
            proc.stderr.close()
        if getattr(self, "tmp", None):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class ProjectSink:
    """The fallback: benches/sink.py (blocking mode), HTTP and HTTPS, with Nginx's interface."""

    kind = "sink.py"

    def __init__(self, tls: Optional[Tuple[str, str]] = None, reason: str = "") -> None:
        from sink import Sink

        self.version = "benches/sink.py"
        self.note = f"benches/sink.py (nginx unavailable: {reason})" if reason else "benches/sink.py"
        self.http = Sink()
        self.https = Sink(tls=tls) if tls else None
        self.host, self.port, self.url = self.http.host, self.http.port, self.http.url
        self.tls_port = self.https.port if self.https else None
        self.tls_url = self.https.url if self.https else None
        atexit.register(self.stop)

    def pin(self, cpus: Optional[Set[int]]) -> None:
        cpus = set(cpus) if cpus else set(range(os.cpu_count() or 1))
        for s in filter(None, (self.http, self.https)):
            try:
                os.sched_setaffinity(s.proc.pid, cpus)
            except OSError:
                pass

    def stop(self) -> None:
        for s in filter(None, (self.http, self.https)):
            s.stop()
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self) -> "ProjectSink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def open_sink(tls: Optional[Tuple[str, str]] = None, install: bool = True, log=print) -> Any:
    """nginx if it can be found (or, with ``install``, installed) and started, else sink.py."""
    binary = ensure_nginx(install=install, log=log)
    if binary:
        try:
            return Nginx(binary, tls=tls)
        except Exception as exc:  # nginx is there but would not start: say why, fall back
            return ProjectSink(tls, reason=f"nginx would not start: {exc}".splitlines()[0])
    return ProjectSink(tls, reason="not installed and not installable here" if install
                       else "not installed (this run installs nothing)")


def describe(sink: Any) -> Dict[str, Any]:
    return {"kind": sink.kind, "version": sink.version, "note": sink.note}


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensure", action="store_true", help="install nginx-light if missing, print the binary")
    ap.add_argument("--serve", action="store_true", help="run the sink until interrupted, print its URL")
    args = ap.parse_args(argv)
    if args.ensure:
        path = ensure_nginx(install=True)
        print(path or "nginx: unavailable; the benches will use benches/sink.py")
    if args.serve:
        with Nginx() as n:
            print(n.url, flush=True)
            try:
                n.proc.wait()
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
