"""Chooses the live backend: the compiled core or its pure-Python twin.

OSSFAST_BACKEND=auto (default) | native | python. ``auto`` falls back to
pure Python when the compiled module is missing, with one warning.
"""
from __future__ import annotations

import os
import warnings
from types import ModuleType

_choice = os.environ.get("OSSFAST_BACKEND", "auto").strip().lower() or "auto"
if _choice not in ("auto", "native", "python"):
    raise ImportError(f"OSSFAST_BACKEND must be auto, native or python, not {_choice!r}")

impl: ModuleType
name: str

if _choice == "python":
    from . import _pure as impl
    name = "python"
else:
    try:
        from . import _native as impl
        name = "native"
    except ImportError as exc:
        if _choice == "native":
            raise ImportError(f"OSSFAST_BACKEND=native but the compiled core is unavailable: {exc}") from exc
        warnings.warn(
            f"ossfast: compiled core unavailable ({exc}); using the pure-Python backend, "
            "which is much slower",
            RuntimeWarning,
            stacklevel=2,
        )
        from . import _pure as impl
        name = "python"
