"""The emulator's settings, and loading a handler named 'module:function' or 'file.py:function'."""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import secrets
import string
import sys
from typing import Any, Callable, Optional, Union

from ..credentials import Credentials
from ..errors import InvalidRequestError

Handler = Callable[[bytes, Any], Any]
_REGION_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ALNUM = string.ascii_letters + string.digits


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, "handler")


def load_handler(spec: str) -> Handler:
    """The callable that ``spec`` names: 'package.module:function', 'path/to/file.py:function',
    or Function Compute's own 'module.function'. A dotted function name ('mod:obj.method')
    is followed attribute by attribute.

    The current directory is put on ``sys.path`` (as ``python -m`` does) so a module next to
    where the command runs is found; a file's own directory is put there too, so the file
    can import its neighbours, as in an FC code package. Raises ``InvalidRequestError``
    (a ``ValueError``) saying what is missing.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _fail("handler: expected 'module:function' or 'path/to/file.py:function'")
    spec = spec.strip()
    if ":" in spec.replace("\\", "/").rsplit("/", 1)[-1]:
        target, _, attr = spec.rpartition(":")
    elif "." in spec and not spec.endswith(".py"):
        target, _, attr = spec.rpartition(".")  # FC's 'index.handler'
    else:
        raise _fail(f"handler {spec!r}: name the function too, as 'module:function'")
    if not target or not attr:
        raise _fail(f"handler {spec!r}: expected 'module:function' or 'path/to/file.py:function'")
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _load_file(spec, target)
    else:
        module = _load_module(spec, target)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _fail(f"handler {spec!r}: {module.__name__} has no attribute {attr!r}") from None
    if not callable(obj):
        raise _fail(f"handler {spec!r}: {attr!r} is a {type(obj).__name__}, not a function")
    return obj  # type: ignore[no-any-return]


def _load_module(spec: str, name: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise _fail(f"handler {spec!r}: no module named {exc.name!r} (looked in the current "
                        f"directory and sys.path)") from None
        raise


def _load_file(spec: str, path: str) -> Any:
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        raise _fail(f"handler {spec!r}: no file {path!r}")
    folder = os.path.dirname(real)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(real))[0]
    name = "ossfast_emulator_handler_" + re.sub(r"\W", "_", stem)
    found = importlib.util.spec_from_file_location(name, real)
    if found is None or found.loader is None:
        raise _fail(f"handler {spec!r}: {path!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def random_credentials() -> Credentials:
    """A fresh STS-style AccessKey pair and security token, for one run."""
    key_id = "STS." + "".join(secrets.choice(_ALNUM) for _ in range(24))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(30))
    token = "CAIS" + secrets.token_urlsafe(96)
    return Credentials(key_id, secret, token)


class EmulatorConfig:
    """What one emulator serves and how.

    ``root``: the directory whose files are the objects (resolved once, must exist);
    ``handler``: the FC handler, a callable ``handler(event_bytes, context)`` or its name
    ('module:function', 'file.py:function'); ``host``/``port``: where to listen (port 0 picks
    a free one); ``region``: the access point's region (route, V4 scope, ``FC_REGION``);
    ``timeout``: seconds a client waits for the function's answer (then 504), also the most
    a relay may stall; ``credentials``: the function's AccessKey (None: a fresh random
    STS AccessKey pair and token per run); ``url_lifetime``: seconds an ``inputOssUrl``
    stays valid (default: the larger of ``timeout`` + 60 and 900).
    """

    __slots__ = ("root", "handler", "handler_name", "host", "port", "region", "timeout",
                 "credentials", "url_lifetime")

    def __init__(self, root: Union[str, "os.PathLike[str]"], handler: Union[str, Handler],
                 host: str = "127.0.0.1", port: int = 0, region: str = "cn-hangzhou",
                 timeout: float = 60.0, credentials: Optional[Credentials] = None,
                 url_lifetime: Optional[int] = None) -> None:
        real = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real):
            raise InvalidRequestError(f"root: {os.fspath(root)!r} is not a directory", "root")
        self.root = real
        if isinstance(handler, str):
            # imported by resolve_handler() once the function's environment is set, as FC
            # imports a function's module with its variables already in place
            self.handler_name = handler
            self.handler: Optional[Handler] = None
        elif callable(handler):
            self.handler = handler
            self.handler_name = (f"{getattr(handler, '__module__', '?')}:"
                                 f"{getattr(handler, '__qualname__', type(handler).__name__)}")
        else:
            raise InvalidRequestError(
                f"handler: expected a callable or 'module:function', not {type(handler).__name__}",
                "handler")
        if not isinstance(host, str) or not host:
            raise InvalidRequestError("host: expected an address such as '127.0.0.1'", "host")
        self.host = host
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidRequestError(f"port: expected 0..65535, not {port!r}", "port")
        self.port = port
        if not isinstance(region, str) or not _REGION_RE.fullmatch(region):
            raise InvalidRequestError(f"region: {region!r} is not a region id such as 'cn-hangzhou'",
                                      "region")
        self.region = region
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidRequestError(f"timeout: expected a positive number of seconds, not {timeout!r}",
                                      "timeout")
        self.timeout = float(timeout)
        if credentials is not None and not isinstance(credentials, Credentials):
            raise InvalidRequestError("credentials: expected an ossfast.Credentials or None",
                                      "credentials")
        self.credentials = credentials if credentials is not None else random_credentials()
        lifetime = url_lifetime if url_lifetime is not None else max(int(self.timeout) + 60, 900)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise InvalidRequestError(f"url_lifetime: expected a positive int, not {lifetime!r}",
                                      "url_lifetime")
        self.url_lifetime = lifetime

    def resolve_handler(self) -> Handler:
        """The handler, imported now if it was given by name."""
        if self.handler is None:
            self.handler = load_handler(self.handler_name)
        return self.handler

    def __repr__(self) -> str:
        return (f"EmulatorConfig(root={self.root!r}, handler={self.handler_name!r}, host={self.host!r}, "
                f"port={self.port}, region={self.region!r}, timeout={self.timeout}, "
                f"credentials={self.credentials!r})")
