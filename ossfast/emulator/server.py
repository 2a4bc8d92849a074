"""Running the emulator: in the background of a test or a program (:class:`Emulator`), or in
the foreground for the command line (:func:`serve`).

While it runs, the function's environment is set as FC sets it (``ALIBABA_CLOUD_ACCESS_KEY_ID``,
``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, ``ALIBABA_CLOUD_SECURITY_TOKEN``, ``FC_REGION``) plus
``OSSFAST_ENDPOINT`` (the emulator's URL, where ``ossfast.Client`` then sends); every variable
is restored exactly when it stops. Emulators that overlap in time must stop in the reverse
order of their start for that to hold.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Union

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..credentials import Credentials
from ..errors import InvalidRequestError
from .app import MAX_HEADERS, STATE, State, make_app, protocol_error
from .config import EmulatorConfig, Handler

log = logging.getLogger("ossfast.emulator")

#: aiohttp's limits on a request head: a 16 KiB request line (OSS keys are at most 1023
#: bytes, percent-encoded three times that) and header field, at most 100 header lines.
#: keepalive_timeout: seconds a connection may go without a complete request head, from its
#: start or its last reply (aiohttp's AppRunner default is 3630 s: a head that never ends,
#: or ends a byte at a time, held a connection for an hour)
SERVER_LIMITS: Dict[str, Any] = {"max_line_size": 16384, "max_field_size": 16384, "max_headers": MAX_HEADERS,
                                 "keepalive_timeout": 75.0}
SHUTDOWN_TIMEOUT = 2.0
#: seconds stop() waits for functions still running
HANDLER_JOIN = 1.0
ENV_VARS = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN", "FC_REGION", "OSSFAST_ENDPOINT")


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket; a host that does not resolve or a port in use is an
    InvalidRequestError that says so (the command line prints it in one line)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise InvalidRequestError(f"host: cannot resolve {host!r} ({exc.strerror or exc})", "host") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise InvalidRequestError(f"port: cannot listen on {host}:{port} ({exc.strerror or exc})",
                                  "port") from None
    except BaseException:
        sock.close()
        raise
    return sock


def warn_if_exposed(host: str) -> None:
    """Log a warning when ``host`` (the address listened on) is not a loopback address: the
    emulator does not authenticate its clients, so anyone who can reach it reads the root's
    objects as the handler transforms them."""
    try:
        loopback = ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:  # a name: what it resolves to decides
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            loopback = all(ipaddress.ip_address(i[4][0].split("%", 1)[0]).is_loopback for i in infos)
        except (OSError, ValueError):
            loopback = False
    if not loopback:
        log.warning("listening on %s, which is not loopback: other machines can reach the emulator, "
                    "and its clients are unauthenticated", host)


class _Protocol(RequestHandler):
    """aiohttp's connection handler, but what it answers by itself (a request its parser
    refuses, an exception that escapes the app) is answered as OSS would, by
    :func:`~.app.protocol_error`: aiohttp's stock reply quotes the offending request line in
    its body and logs it with a traceback, and that line can hold a token or a signature."""

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: Optional[BaseException] = None,
                     message: Optional[str] = None) -> web.StreamResponse:
        state = getattr(self._manager, "ossfast_state", None)
        if state is None:  # pragma: no cover - only ever made by _Server
            return super().handle_error(request, status, exc, message)
        resp = protocol_error(state, request, status, exc)
        if request.writer.output_size > 0:  # as aiohttp: a reply is under way, the connection is broken
            raise ConnectionError("the reply was under way")
        return resp


class _Server(web.Server):
    """aiohttp's Server whose connections are :class:`_Protocol`."""

    ossfast_state: State

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = _Protocol  # the same object, with handle_error replaced
        return handler


class _Runner(web.AppRunner):
    """An AppRunner whose server is a :class:`_Server` for the emulator's app."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server
        server.ossfast_state = self.app[STATE]  # type: ignore[attr-defined]
        return server


def _runner(app: web.Application) -> web.AppRunner:
    return _Runner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT,
                   **SERVER_LIMITS)


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _function_env(config: EmulatorConfig, url: str) -> Dict[str, Optional[str]]:
    creds = config.credentials
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": creds.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds.access_key_secret,
            "ALIBABA_CLOUD_SECURITY_TOKEN": creds.security_token,
            "FC_REGION": config.region, "OSSFAST_ENDPOINT": url}


def _set_env(values: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    """Set (or, for None, unset) ``values`` in os.environ; returns what to restore."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return saved


class Emulator:
    """A local Object FC Access Point on a background thread (its own event loop).

    ``Emulator(root, handler, host=, port=, region=, timeout=, credentials=)`` takes
    :class:`EmulatorConfig`'s arguments. Use it as a context manager, or ``start()`` /
    ``stop()``. Once started: ``url`` ("http://127.0.0.1:PORT"), ``credentials`` (what the
    function gets), ``route`` and ``alias`` (the access point's), ``stats`` (counters),
    ``object_url(key)``.
    """

    def __init__(self, root: Union[str, "os.PathLike[str]"], handler: Union[str, Handler],
                 **kwargs: Any) -> None:
        self.config = EmulatorConfig(root, handler, **kwargs)
        self._app: Optional[web.Application] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None
        self._saved_env: Optional[Dict[str, Optional[str]]] = None
        self.url = ""

    def __repr__(self) -> str:
        where = self.url or "not started"
        return f"<Emulator {where} root={self.config.root!r} handler={self.config.handler_name!r}>"

    @property
    def state(self) -> State:
        if self._app is None:
            raise RuntimeError("the emulator is not started")
        return self._app[STATE]

    @property
    def credentials(self) -> Credentials:
        return self.config.credentials

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def route(self) -> str:
        return self.state.route

    @property
    def alias(self) -> str:
        return self.state.alias

    @property
    def stats(self) -> Dict[str, int]:
        return dict(self.state.stats)

    def object_url(self, key: str) -> str:
        from urllib.parse import quote

        return f"{self.url}/{quote(key, safe='/')}"

    def start(self) -> "Emulator":
        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        sock = _listen(self.config.host, self.config.port)
        self.url = _url(sock)
        warn_if_exposed(sock.getsockname()[0])
        # the function's environment first, then its module is imported (as FC does)
        self._saved_env = _set_env(_function_env(self.config, self.url))
        try:
            self.config.resolve_handler()
            self._app = make_app(self.config)
        except BaseException:
            sock.close()
            self._restore_env()
            raise
        self.state.base_url = self.url
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failed: list = []
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop, sock, ready, failed),
                                        name=f"ossfast-emulator:{sock.getsockname()[1]}", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            self._thread = None
            self._restore_env()
            raise failed[0]
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event,
             failed: list) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                assert self._app is not None
                runner = _runner(self._app)
                loop.run_until_complete(runner.setup())
                self._runner = runner
                loop.run_until_complete(web.SockSite(runner, sock).start())
            except BaseException as exc:
                sock.close()
                failed.append(exc)
                ready.set()
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
        finally:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()

    def stop(self) -> None:
        """Stop serving (waiting clients get 503), restore the environment; idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        self._restore_env()
        # Functions still running get a moment to end; then they are left to finish on their own.
        deadline = time.monotonic() + HANDLER_JOIN
        for handler_thread in self.state.threads:
            handler_thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _restore_env(self) -> None:
        if self._saved_env is not None:
            _set_env(self._saved_env)
            self._saved_env = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and wait for the tasks still pending on ``loop`` (as ``asyncio.run`` does at its
    end): aiohttp's cleanup does not wait for a connection still reading a refused request's
    body, and a task destroyed pending is an error logged at exit."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def serve(root: Union[str, "os.PathLike[str]"], handler: Union[str, Handler], *,
          host: str = "127.0.0.1", port: int = 9000, region: str = "cn-hangzhou",
          timeout: float = 60.0, ready: Optional[Callable[[str], Any]] = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM (the command line's loop).

    Once listening it prints one line to stdout, "ossfast emulator listening on
    http://127.0.0.1:PORT (root DIR, handler mod:fn)", then calls ``ready(url)`` if given.
    The per-request log lines go to stderr unless logging is already configured.
    """
    config = EmulatorConfig(root, handler, host=host, port=port, region=region, timeout=timeout)
    logger_added = _default_logging()
    try:
        asyncio.run(_serve(config, ready))
    finally:
        if logger_added is not None:
            log.removeHandler(logger_added[0])
            log.setLevel(logger_added[1])


def _default_logging() -> Optional[tuple]:
    if logging.getLogger().handlers or log.handlers:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    previous = log.level
    log.addHandler(handler)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    return handler, previous


async def _serve(config: EmulatorConfig, ready: Optional[Callable[[str], Any]]) -> None:
    loop = asyncio.get_running_loop()
    sock = _listen(config.host, config.port)
    url = _url(sock)
    warn_if_exposed(sock.getsockname()[0])
    saved = _set_env(_function_env(config, url))  # before the handler's module is imported
    try:
        config.resolve_handler()
        app = make_app(config)
    except BaseException:
        sock.close()
        _set_env(saved)
        raise
    state = app[STATE]
    state.base_url = url
    runner = _runner(app)
    stop = asyncio.Event()
    signals = []
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                    signals.append(sig)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                    pass
        print(f"ossfast emulator listening on {url} (root {config.root}, handler {config.handler_name})",
              flush=True)
        if ready is not None:
            ready(url)
        await stop.wait()
        log.info("ossfast emulator stopping")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        sock.close()
        _set_env(saved)
