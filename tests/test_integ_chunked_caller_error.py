"""The integrations' chunked send (``_http._send_chunked``) leaves an exception the SDK's own
body raised as it was raised: a TransportError of the body's own keeps its ``bytes_sent``
(it was rewritten with the chunked body's count), an OSError passes unchanged."""
from __future__ import annotations

import pytest
from srv_recording import RecordingServer

from ossfast import TransportError, transport
from ossfast.integrations import _http


def _send(server, body):
    pool = transport.Pool()
    try:
        return _http.send(pool, "PUT", server.url + "/k", [], body, transport.Timeout(2.0, 5.0), stream=False)
    finally:
        pool.close()


def test_a_transport_error_of_the_bodys_own_keeps_its_bytes_sent(start_server):
    server = start_server(RecordingServer)
    mine = TransportError("the upstream object stream broke", request_sent=False, bytes_sent=12345)

    def body():
        yield b"x" * 100
        raise mine

    with pytest.raises(TransportError) as ei:
        _send(server, body())
    assert ei.value is mine and ei.value.bytes_sent == 12345


def test_an_oserror_of_the_bodys_own_passes_unchanged(start_server):
    server = start_server(RecordingServer)

    def body():
        yield b"x" * 100
        raise ConnectionResetError("upstream object stream reset")

    with pytest.raises(ConnectionResetError, match="upstream object stream reset"):
        _send(server, body())
