"""The blocking driver: connections, the pool, TLS and the one send path (connection.py), and
``Client`` (client.py), over the shared sans-IO modules (request, _http11, _policy, _outcome)."""
from .client import Client

__all__ = ["Client"]
