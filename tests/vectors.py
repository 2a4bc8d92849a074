"""Loads the published known-answer vectors kept in tests/data/.

``load(name)`` returns a list of dicts, one per vector. In the JSON files a
byte field ``F`` (``key``, ``message``, ``digest``, ...) is written either as
text (``"F"``) or as hex (``"F_hex"``), optionally repeated ``"F_repeat"``
times; every such field comes back as ``bytes`` under its plain name. Text
files hold lines in the form RFC 1321 prints them, ``MD5 ("abc") = <hex>``,
and come back as ``{"alg": "md5", "message": ..., "digest": ...}``.
"""
from __future__ import annotations

import json
import pathlib
import re
from typing import Any, Dict, List

DATA = pathlib.Path(__file__).parent / "data"
_LINE = re.compile(r'^(?P<alg>[A-Za-z0-9-]+) \("(?P<message>.*)"\) = (?P<digest>[0-9a-fA-F]+)$')


def _decode(raw: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, value in raw.items():
        if name.endswith("_repeat"):
            continue
        if name.endswith("_hex"):
            field = name[:-4]
            data = bytes.fromhex(value)
        elif isinstance(value, str) and name in ("key", "message", "data"):
            field = name
            data = value.encode("utf-8")
        else:
            out[name] = value
            continue
        out[field] = data * raw.get(field + "_repeat", 1)
    return out


def load(name: str) -> List[Dict[str, Any]]:
    """The vectors of tests/data/<name>, decoded as described above."""
    path = DATA / name
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        doc = json.loads(text)
        records = doc["vectors"] if isinstance(doc, dict) else doc
        return [_decode(r) for r in records]
    vectors = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"{name}: cannot parse line {line!r}")
        vectors.append({"alg": m["alg"].lower(), "message": m["message"].encode("utf-8"),
                        "digest": bytes.fromhex(m["digest"])})
    if not vectors:
        raise ValueError(f"{name}: no vectors")
    return vectors
