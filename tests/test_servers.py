"""The loopback servers (tests/srv_*.py, tests/refcrc.py), checked with plain clients (raw sockets, ssl,
h11), and the tests/servers.py facade."""

import http.client
import os
import socket
import ssl
import sys
import threading
import time

import h11
import pytest

import servers
import srv_faults
from refcrc import CRC64_IMPL, crc64
from srv_faults import FaultServer
from srv_recording import RecordingServer
from srv_replies import Reply, oss_error
from srv_tls import TLSMaterial

pytestmark = pytest.mark.usefixtures("no_fd_leak")

TARGET = "/?x-oss-write-get-object-response"


def head(body_len, *extra, host=b"fc-ap-01-1234-opap.oss-cn-qingdao-internal.oss-object-process.aliyuncs.com"):
    lines = [b"POST " + TARGET.encode() + b" HTTP/1.1", b"Host: " + host]
    lines += list(extra)
    lines.append(b"Content-Length: %d" % body_len)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def read_reply(sock, max_event=64 * 1024):
    """Read one reply with a strict h11 client: (status, {lower name: value}, body)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_event)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    status, headers, body = None, {}, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, body


def recv_all(sock, limit=4 * 1024 * 1024):
    """Everything until EOF (bounded)."""
    out = bytearray()
    while len(out) < limit:
        data = sock.recv(65536)
        if not data:
            break
        out += data
    return bytes(out)


def connect(server, timeout=2.0):
    return socket.create_connection(server.address, timeout=timeout)


# ---- CRC -----------------------------------------------------------------------------------


def test_crc64_is_crc64_xz():
    from ossfast import _pure

    assert crc64(b"123456789") == 0x995DC9BBDF1939FA
    assert crc64(b"") == 0
    data = os.urandom(3000)
    assert crc64(data) == _pure.crc64(data)
    assert crc64(data[1000:], crc64(data[:1000])) == crc64(data)
    assert CRC64_IMPL in ("crcmod", "ossfast._pure")


# ---- RecordingServer -----------------------------------------------------------------------


def test_records_exact_bytes_on_one_keepalive_connection(recording_server):
    bodies = [b"", b"hello world", os.urandom(300 * 1024)]
    sent_heads = []
    with connect(recording_server) as sock:
        for i, body in enumerate(bodies):
            h = head(len(body), b"x-oss-fwd-header-Content-Type: text/plain", b"X-OSS-Request-Token: t%d" % i)
            sent_heads.append(h)
            sock.sendall(h + body)
            status, headers, reply_body = read_reply(sock)
            assert status == 200 and reply_body == b""
            assert len(headers["x-oss-request-id"]) == 24
            assert headers["content-length"] == "0"
    reqs = recording_server.wait_for(3)
    assert recording_server.accepted == 1
    for i, (rec, body, h) in enumerate(zip(reqs, bodies, sent_heads)):
        assert (rec.conn_id, rec.index, rec.index_on_connection) == (1, i, i)
        assert (rec.method, rec.target, rec.http_version) == ("POST", TARGET, "1.1")
        assert rec.raw_head == h
        assert rec.headers[1:] == [
            (b"x-oss-fwd-header-Content-Type", b"text/plain"),
            (b"X-OSS-Request-Token", b"t%d" % i),
            (b"Content-Length", b"%d" % len(body)),
        ]
        assert rec.header("x-oss-request-token") == "t%d" % i
        assert rec.body == body and rec.body_length == len(body) and rec.complete
        assert rec.crc64 == crc64(body)
    assert reqs[2].request_id and reqs[2].reply.status == 200
    assert recording_server.connections[0].requests == 3


def test_counts_connections_and_http_client_works(recording_server):
    for _ in range(2):
        c = http.client.HTTPConnection(recording_server.host, recording_server.port, timeout=2)
        try:
            c.request("POST", TARGET, body=b"abc")
            r = c.getresponse()
            assert r.status == 200 and r.read() == b""
        finally:
            c.close()
    reqs = recording_server.wait_for(2)
    assert recording_server.accepted == 2
    assert [r.conn_id for r in reqs] == [1, 2]


def test_scripted_replies_then_default(recording_server):
    recording_server.respond(
        oss_error(403, "AccessDenied", "no", ec="0003-00000101", request_id="5C" * 12),
        Reply(500, [("x-extra", "1")], b"oops"),
        lambda rec: Reply(202, body=rec.body[::-1]),
    )
    got = []
    with connect(recording_server) as sock:
        for _ in range(4):
            sock.sendall(head(3) + b"abc")
            got.append(read_reply(sock))
    (s1, h1, b1), (s2, h2, b2), (s3, _, b3), (s4, _, b4) = got
    assert s1 == 403 and h1["x-oss-request-id"] == "5C" * 12 and h1["x-oss-ec"] == "0003-00000101"
    assert b"<Code>AccessDenied</Code>" in b1 and b"<EC>0003-00000101</EC>" in b1
    assert b"<RequestId>" + b"5C" * 12 + b"</RequestId>" in b1 and b"<HostId>" in b1
    assert (s2, h2["x-extra"], b2) == (500, "1", b"oops")
    assert (s3, b3) == (202, b"cba")
    assert (s4, b4) == (200, b"")


def test_handler_and_close(start_server):
    server = start_server(RecordingServer, responses=lambda rec: Reply(204, close=True))
    with connect(server) as sock:
        sock.sendall(head(0))
        assert read_reply(sock)[0] == 204
        assert sock.recv(10) == b""  # the server closed after "Connection: close"


def test_body_limit_counts_and_hashes_the_rest(start_server):
    server = start_server(RecordingServer, body_limit=1000)
    body = os.urandom(2 * 1024 * 1024)
    with connect(server) as sock:
        sock.sendall(head(len(body)) + body)
        assert read_reply(sock)[0] == 200
    rec = server.wait_for(1)[0]
    assert rec.body == body[:1000] and rec.body_truncated
    assert rec.body_length == len(body) and rec.crc64 == crc64(body)


def test_aborted_request_is_recorded_apart(recording_server):
    with connect(recording_server) as sock:
        sock.sendall(head(100) + b"x" * 10)
    recording_server.wait_until(lambda: recording_server.aborted, what="an aborted request")
    rec = recording_server.aborted[0]
    assert not rec.complete and rec.body_length == 10 and rec.body == b"x" * 10
    assert recording_server.requests == [] and recording_server.protocol_errors == []


def test_malformed_request_gets_400(start_server):
    server = start_server(RecordingServer, strict=False)
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n")
        assert read_reply(sock)[0] == 400
    server.wait_until(lambda: server.protocol_errors)
    assert server.requests == []


def test_expect_100_continue(recording_server):
    with connect(recording_server) as sock:
        sock.sendall(head(5, b"Expect: 100-continue"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"12345")
        assert read_reply(sock)[0] == 200
    assert recording_server.wait_for(1)[0].body == b"12345"


def test_reply_delay(recording_server):
    recording_server.respond(Reply(200, delay=0.2))
    with connect(recording_server) as sock:
        t = time.monotonic()
        sock.sendall(head(0))
        assert read_reply(sock)[0] == 200
        assert time.monotonic() - t >= 0.19


def test_many_concurrent_connections(recording_server):
    errors = []

    def one(i):
        try:
            with connect(recording_server) as sock:
                body = b"%d" % i * 1000
                sock.sendall(head(len(body)) + body)
                assert read_reply(sock)[0] == 200
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == []
    reqs = recording_server.wait_for(40)
    assert recording_server.accepted == 40
    assert sorted(r.conn_id for r in reqs) == list(range(1, 41))
    assert all(r.crc64 == crc64(r.body) for r in reqs)


def test_stop_closes_idle_connections_quickly():
    server = RecordingServer().start()
    with connect(server) as sock:
        server.wait_for_connections(1)
        t = time.monotonic()
        server.stop()
        assert time.monotonic() - t < 1.0
        assert sock.recv(10) == b""
    assert not server.running and server.threads() == [] and server.stop_reason == "stop"


def test_idle_timeout_and_lifetime_stop_the_server():
    idle = RecordingServer(idle_timeout=0.2).start()
    life = FaultServer(lifetime=0.3, idle_timeout=10).start()
    try:
        with connect(life):
            deadline = time.monotonic() + 3
            while (idle.running or life.running) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (idle.stop_reason, life.stop_reason) == ("idle", "lifetime")
            assert not idle.running and not life.running
    finally:
        idle.stop()
        life.stop()


# ---- TLS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_tls_with_the_ca_file(tls_material, tls_recording_server, server_hostname):
    ctx = ssl.create_default_context(cafile=tls_material.ca_file)
    with connect(tls_recording_server) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname=server_hostname) as sock:
            sock.sendall(head(4) + b"data")
            assert read_reply(sock)[0] == 200
    rec = tls_recording_server.wait_for(1)[0]
    assert rec.body == b"data" and tls_recording_server.url.startswith("https://127.0.0.1:")
    assert tls_recording_server.connections[0].tls_version.startswith("TLS")


@pytest.mark.parametrize("variant", [v for v in TLSMaterial.VARIANTS if v != "valid"])
def test_tls_bad_certificates_fail_verification(tls_material, start_server, variant):
    server = start_server(RecordingServer, ssl_context=tls_material.server_context(variant))
    ctx = tls_material.client_context()
    with connect(server) as raw_sock:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw_sock, server_hostname="localhost")
    server.wait_until(lambda: server.tls_errors, what="the failed handshake")
    assert server.requests == []


# ---- refused / never accepted --------------------------------------------------------------


def test_free_port_refuses(free_port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free_port), timeout=1).close()


def test_unaccepted_port_connects_but_never_answers(unaccepted_port):
    with socket.create_connection(("127.0.0.1", unaccepted_port), timeout=0.2) as sock:
        sock.sendall(head(3) + b"abc")
        with pytest.raises(socket.timeout):
            sock.recv(10)


# ---- FaultServer ---------------------------------------------------------------------------


def blocked_after(sock, total=64 * 1024 * 1024):
    """Send non-blocking until the kernel refuses more; return how many bytes went."""
    sock.setblocking(False)
    sent, chunk = 0, b"x" * 65536
    while sent < total:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                return sent
    return sent


def test_accept_never_read_blocks_the_sender(fault_server):
    fault_server.set_behaviours("accept_never_read")
    with connect(fault_server) as sock:
        sent = blocked_after(sock)
        assert 0 < sent < 16 * 1024 * 1024
        # Unfinished while we hold the socket (and after: our FIN is stuck behind the data).
        assert [e.finished for e in fault_server.exchanges] == [False]
    ex = fault_server.exchanges[0]
    assert ex.behaviour.startswith("accept_never_read") and ex.head_bytes == 0


def test_hold_ends_when_the_peer_closes(fault_server):
    fault_server.set_behaviours("accept_never_read")
    with connect(fault_server) as sock:
        sock.sendall(head(10))
    assert fault_server.wait_for(1, timeout=1)[0].head_bytes == 0


def test_stall_tls_handshake(fault_server, tls_material):
    fault_server.set_behaviours("stall_tls_handshake")
    with connect(fault_server, timeout=0.2) as raw_sock:
        with pytest.raises(socket.timeout):
            tls_material.client_context().wrap_socket(raw_sock, server_hostname="localhost")


def test_close_immediately(fault_server):
    fault_server.set_behaviours("close_immediately")
    with connect(fault_server) as sock:
        assert sock.recv(10) == b""


def test_close_after_head(fault_server):
    fault_server.set_behaviours("close_after_head")
    with connect(fault_server) as sock:
        sock.sendall(head(1000))
        assert sock.recv(10) == b""
    ex = fault_server.wait_for(1)[0]
    assert ex.head_complete and ex.head == head(1000)
    assert ex.content_length == 1000 and ex.body_bytes == 0 and not ex.body_complete


def test_reset_mid_body(fault_server):
    fault_server.set_behaviours(srv_faults.reset_mid_body(after=100))
    with connect(fault_server) as sock:
        sock.sendall(head(5000) + b"y" * 1000)
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
    ex = fault_server.wait_for(1)[0]
    assert ex.body_bytes == 100 and not ex.body_complete and ex.crc64 == crc64(b"y" * 100)


def test_read_body_then_close(fault_server):
    fault_server.set_behaviours("read_body_then_close")
    with connect(fault_server) as sock:
        sock.sendall(head(2000) + b"z" * 2000)
        assert sock.recv(10) == b""
    ex = fault_server.wait_for(1)[0]
    assert ex.body_complete and ex.body_bytes == 2000 and ex.crc64 == crc64(b"z" * 2000)
    assert fault_server.full_bodies == 1


def test_hold_after_body(fault_server):
    fault_server.set_behaviours(srv_faults.hold_after_body())
    with connect(fault_server, timeout=0.2) as sock:
        sock.sendall(head(3) + b"abc")
        with pytest.raises(socket.timeout):
            sock.recv(10)
    assert fault_server.exchanges[0].body_complete


@pytest.mark.parametrize("then", ["close", "drain"])
def test_early_reply_answers_before_the_body(fault_server, then):
    fault_server.set_behaviours(srv_faults.early_reply(500, "InternalError", "boom", then=then))
    with connect(fault_server) as sock:
        sock.sendall(head(4000))  # no body yet
        status, headers, body = read_reply(sock)
        assert status == 500 and headers["connection"] == "close"
        assert b"<Code>InternalError</Code>" in body and b"<Message>boom</Message>" in body
        if then == "drain":
            sock.sendall(b"b" * 4000)
        assert sock.recv(10) == b""
    ex = fault_server.wait_for(1)[0]
    assert ex.body_complete == (then == "drain")


def test_slow_reply_trickles(fault_server):
    fault_server.set_behaviours(srv_faults.slow_reply(byte_delay=0.003))
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        t, pieces, data = time.monotonic(), 0, b""
        while not data.endswith(b"\r\n\r\n"):
            data += sock.recv(65536)
            pieces += 1
        elapsed = time.monotonic() - t
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 0" in data
    assert pieces > len(data) // 4 and elapsed >= 0.003 * (len(data) - 1) * 0.8


@pytest.mark.parametrize("name", ["malformed_status_line", "malformed_header"])
def test_malformed_replies_are_rejected_by_a_strict_parser(fault_server, name):
    fault_server.set_behaviours(name)
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        with pytest.raises(h11.RemoteProtocolError):
            read_reply(sock)


def test_oversized_headers(fault_server):
    fault_server.set_behaviours("oversized_headers")
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        data = recv_all(sock)
    assert len(data) > 1024 * 1024 and data.endswith(b"\r\n\r\n")
    with connect(fault_server) as sock:  # a client that gives up early
        sock.sendall(head(0))
        with pytest.raises(h11.RemoteProtocolError):
            read_reply(sock)
    fault_server.wait_for(2)


def test_wrong_content_length(fault_server):
    fault_server.set_behaviours("wrong_content_length")
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        with pytest.raises(h11.RemoteProtocolError):
            read_reply(sock)  # EOF after 10 of the 100 bytes declared


def test_chunked_reply(fault_server):
    fault_server.set_behaviours(srv_faults.chunked_reply([b"abc", b"", b"defg"]))
    with connect(fault_server) as sock:
        for _ in range(2):  # keep-alive
            sock.sendall(head(1) + b"1")
            status, headers, body = read_reply(sock)
            assert (status, headers["transfer-encoding"], body) == (200, "chunked", b"abcdefg")
    assert fault_server.accepted == 1 and fault_server.full_bodies == 2


def test_scripted_statuses_per_request_then_last_repeats(fault_server):
    fault_server.set_behaviours(srv_faults.reply(500), oss_error(503, "ServiceUnavailable"), "reply")
    statuses = []
    with connect(fault_server) as sock:  # 500 then 503 on one keep-alive connection
        for _ in range(2):
            sock.sendall(head(2) + b"ok")
            statuses.append(read_reply(sock)[0])
    for _ in range(2):  # then 200 on new connections
        with connect(fault_server) as sock:
            sock.sendall(head(2) + b"ok")
            statuses.append(read_reply(sock)[0])
    assert statuses == [500, 503, 200, 200]
    fault_server.wait_for(4)
    assert fault_server.full_bodies == 4 and fault_server.accepted == 3
    assert [len(c.exchanges) for c in fault_server.connections] == [2, 1, 1]


def test_reply_close_forces_a_new_connection(fault_server):
    fault_server.set_behaviours(srv_faults.reply(500, close=True), "reply")
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        assert read_reply(sock)[0] == 500
        assert sock.recv(10) == b""
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        assert read_reply(sock)[0] == 200


def test_idle_close_makes_a_pooled_socket_stale(fault_server):
    fault_server.set_behaviours(srv_faults.idle_close(delay=0.1))
    with connect(fault_server) as sock:
        sock.sendall(head(0))
        status, headers, _ = read_reply(sock)
        assert status == 200 and "connection" not in headers
        sock.settimeout(1)
        assert sock.recv(10) == b""  # closed while idle


def test_first_slot_drawn_at_accept_and_tls_fault_server(start_server, tls_material):
    server = start_server(
        FaultServer,
        behaviours=["stall_tls_handshake", srv_faults.reply(201)],
        ssl_context=tls_material.server_context(),
    )
    ctx = tls_material.client_context()
    with connect(server, timeout=0.2) as raw_sock:
        with pytest.raises(socket.timeout):
            ctx.wrap_socket(raw_sock, server_hostname="localhost")
    with connect(server) as raw_sock, ctx.wrap_socket(raw_sock, server_hostname="localhost") as sock:
        sock.sendall(head(0))
        assert read_reply(sock)[0] == 201


# ---- the servers.py facade -------------------------------------------------------------------


def test_servers_facade_only_re_exports_the_concern_modules():
    """tests/servers.py defines nothing: each public name is the very object of a srv_*/refcrc
    module (new helpers go to the module of their concern), and __all__ lists them all."""
    import inspect

    concern = [m for name, m in sys.modules.items() if name == "refcrc" or name.startswith("srv_")]
    assert {m.__name__ for m in concern} >= {"refcrc", "srv_faults", "srv_loopback", "srv_ports",
                                            "srv_recording", "srv_replies", "srv_tls"}
    public = {n for n, v in vars(servers).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert public == set(servers.__all__)
    for name in public:
        value = getattr(servers, name)
        assert any(vars(m).get(name) is value for m in concern), name
