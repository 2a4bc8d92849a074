"""ossfast.integrations.oss2.Session: any oss2 operation over ossfast's transport.

The same sequence of oss2 operations (put with every body kind, get whole and ranged, head,
list, multipart, delete, an error) runs once on oss2's own session and once on ossfast's,
with oss2's clock fixed, against one loopback "mini OSS": every request must be the same
on the wire (method, target, every header, body; nothing is left out of the comparison) and
every result the same. Faults must surface as oss2's RequestError.
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import sys
import hashlib
import io
import os
import random
import threading
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

oss2 = pytest.importorskip("oss2")

import ossfast  # noqa: E402
from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from servers import RecordingServer, Reply, crc64, oss_error  # noqa: E402
from test_integrations_oss2 import sdk_clock  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_fd_leak")
WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
BUCKET = "bkt"


class MiniOSS:
    """Answers as OSS would, enough for the SDKs' object operations (path-style URLs, as both
    SDKs address an IP endpoint): put, get (Range), head, delete, list, multipart. Objects are
    kept in memory; replies are deterministic (ETag: MD5 of the body)."""

    def __init__(self) -> None:
        self.objects: dict = {}
        self.parts: dict = {}
        self.lock = threading.Lock()

    def __call__(self, req) -> Reply:
        url = urlsplit(req.target)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        _, _, rest = url.path.partition("/")
        bucket, _, key = rest.partition("/")
        key = unquote(key)
        with self.lock:
            reply = self.answer(req, req.method, bucket, key, q)
        reply.headers = [("Date", "Mon, 06 May 2024 07:08:09 GMT"), ("Server", "AliyunOSS")] + list(reply.headers)
        return reply

    @staticmethod
    def meta(data: bytes) -> list:
        return [("ETag", '"%s"' % hashlib.md5(data).hexdigest().upper()),
                ("x-oss-hash-crc64ecma", str(crc64(data)))]

    def answer(self, req, method, bucket, key, q) -> Reply:
        if method == "PUT" and "partNumber" in q:
            self.parts.setdefault(q["uploadId"], {})[int(q["partNumber"])] = req.body
            return Reply(200, self.meta(req.body))
        if method == "PUT":
            self.objects[key] = req.body
            return Reply(200, self.meta(req.body))
        if method == "POST" and "uploads" in q:
            return Reply(200, [("Content-Type", "application/xml")],
                         b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult>"
                         b"<Bucket>%s</Bucket><Key>%s</Key><UploadId>UP1</UploadId>"
                         b"</InitiateMultipartUploadResult>" % (bucket.encode(), key.encode()))
        if method == "POST" and "uploadId" in q:
            parts = self.parts.pop(q["uploadId"], {})
            data = b"".join(parts[n] for n in sorted(parts))
            self.objects[key] = data
            return Reply(200, [("Content-Type", "application/xml")] + self.meta(data)[1:],
                         b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult>"
                         b"<Location>http://x/%s</Location><Bucket>%s</Bucket><Key>%s</Key>"
                         b"<ETag>\"MULTI-2\"</ETag></CompleteMultipartUploadResult>"
                         % (key.encode(), bucket.encode(), key.encode()))
        if method == "GET" and not key:
            contents = b"".join(
                b"<Contents><Key>%s</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                b"<ETag>\"E\"</ETag><Type>Normal</Type><Size>%d</Size><StorageClass>Standard</StorageClass>"
                b"</Contents>" % (k.encode(), len(v)) for k, v in sorted(self.objects.items()))
            return Reply(200, [("Content-Type", "application/xml")],
                         b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>%s</Name>"
                         b"<Prefix></Prefix><Marker></Marker><MaxKeys>100</MaxKeys><Delimiter></Delimiter>"
                         b"<IsTruncated>false</IsTruncated><KeyCount>%d</KeyCount>%s</ListBucketResult>"
                         % (bucket.encode(), len(self.objects), contents))
        if method == "DELETE":
            self.objects.pop(key, None)
            return Reply(204)
        if method in ("GET", "HEAD"):
            data = self.objects.get(key)
            if data is None:
                if method == "HEAD":  # no body, the error code in a header as OSS does
                    return Reply(404, [("x-oss-ec", "0026-00000001")])
                return oss_error(404, "NoSuchKey", "The specified key does not exist.")
            headers = [("Content-Type", "application/octet-stream"), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
                       ("x-oss-object-type", "Normal")] + self.meta(data)
            rng = req.header("Range")
            if method == "GET" and rng:
                a, _, b = rng[len("bytes="):].partition("-")
                a, b = int(a), min(int(b), len(data) - 1)
                headers = [h for h in headers if h[0] != "x-oss-hash-crc64ecma"] + [
                    ("Content-Range", f"bytes {a}-{b}/{len(data)}")]
                return Reply(206, headers, data[a:b + 1])
            if method == "HEAD":
                return Reply(200, headers + [("Content-Length", str(len(data)))])
            return Reply(200, headers, data)
        return oss_error(400, "InvalidRequest", "not in the mini OSS")


@contextlib.contextmanager
def sdk_default_leaks():
    """Run the SDK's default transport: the sockets it leaves to the garbage collector
    (requests keeps a HEAD reply's connection checked out) warn without failing the test.
    ossfast's side runs outside this, where such a warning fails it."""
    hook = sys.unraisablehook

    def quiet(u):
        if not (isinstance(u.exc_value, ResourceWarning) and "socket" in repr(u.object) + str(u.exc_value)):
            hook(u)

    sys.unraisablehook = quiet
    try:
        yield
        gc.collect()
    finally:
        sys.unraisablehook = hook


def wire(req):
    """What a request is on the wire: method, target, every header (lower-cased names, in
    order of name), the body. Nothing is left out."""
    return (req.method, req.target, sorted((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in req.headers),
            req.body)


def gen(parts):
    for p in parts:
        yield p


def oss2_sequence(bucket, tmp_path):
    """Every kind of oss2 operation; the results that oss2's users read."""
    big = random.Random(1).randbytes(3 * 1024 * 1024 + 5)  # the same for both sessions
    path = tmp_path / "f.bin"
    path.write_bytes(b"head" + big[:100_000])
    out = []
    r = bucket.put_object("a", b"x" * 1024)
    out.append(("put bytes", r.status, r.etag, r.crc))
    out.append(("put str", bucket.put_object("s", "text ü").etag))
    with open(path, "rb") as f:
        f.seek(4)  # oss2 sends from the current position
        out.append(("put file", bucket.put_object("f", f).etag))
    out.append(("put iterator", bucket.put_object("g", gen([b"ab", b"", b"cd" * 5000])).etag))
    out.append(("put empty", bucket.put_object("e", b"").etag))
    out.append(("put big", bucket.put_object("big", big).etag))
    res = bucket.get_object("big")
    got = b"".join([res.read(1000), res.read(70_000), res.read()])
    out.append(("get", res.status, res.content_length, res.etag, got == big, res.client_crc == res.server_crc))
    out.append(("get iter", b"".join(bucket.get_object("big")) == big))
    with bucket.get_object("big", byte_range=(10, 99)) as res:
        out.append(("range", res.status, res.read(), res.headers["Content-Range"]))
    res = bucket.get_object("big")
    first = res.read(10)
    res.close()  # dropped half-read: the connection is not reused
    out.append(("closed early", first == big[:10]))
    h = bucket.head_object("a")
    out.append(("head", h.status, h.content_length, h.etag, h.object_type))
    lst = bucket.list_objects()
    out.append(("list", [(o.key, o.size) for o in lst.object_list], lst.is_truncated))
    up = bucket.init_multipart_upload("m").upload_id
    p1 = bucket.upload_part("m", up, 1, b"1" * 100_000)
    p2 = bucket.upload_part("m", up, 2, io.BytesIO(b"2" * 1000))
    done = bucket.complete_multipart_upload("m", up, [oss2.models.PartInfo(1, p1.etag), oss2.models.PartInfo(2, p2.etag)])
    out.append(("multipart", up, p1.etag, p2.etag, done.etag, done.crc))
    out.append(("get multipart", bucket.get_object("m").read() == b"1" * 100_000 + b"2" * 1000))
    out.append(("delete", bucket.delete_object("a").status))
    with pytest.raises(oss2.exceptions.NoSuchKey) as info:
        bucket.get_object("a")
    out.append(("missing", info.value.status, info.value.code, info.value.message))
    out.append(("exists", bucket.object_exists("a"), bucket.object_exists("s")))
    return out


@pytest.mark.parametrize("auth", ["v1", "v4"])
def test_every_operation_same_wire_and_results_as_oss2s_session(monkeypatch, start_server, tmp_path, auth):
    mini = MiniOSS()
    server = start_server(RecordingServer, responses=mini)
    sdk_clock(monkeypatch, WHEN)
    make_auth = (lambda: oss2.Auth("ak", "sk")) if auth == "v1" else (lambda: oss2.AuthV4("ak", "sk"))
    theirs_session = oss2.Session()
    ours_session = fast_oss2.Session()
    try:
        with sdk_default_leaks():
            theirs = oss2_sequence(oss2.Bucket(make_auth(), server.url, BUCKET, session=theirs_session,
                                               region="cn-hangzhou"), tmp_path)
            theirs_session.session.close()
        n = len(server.requests)
        mini.objects.clear()
        ours = oss2_sequence(oss2.Bucket(make_auth(), server.url, BUCKET, session=ours_session,
                                         region="cn-hangzhou"), tmp_path)
    finally:
        theirs_session.session.close()
        ours_session.close()
    assert ours == theirs
    reqs = server.requests
    assert len(reqs) == 2 * n
    for a, b in zip(reqs[:n], reqs[n:]):
        assert wire(b) == wire(a)
    kinds = {r.header("Transfer-Encoding") for r in reqs[n:]}
    assert "chunked" in kinds  # the iterator (and the empty body with oss2's CRC adapter) went chunked


def test_connections_are_reused_and_a_half_read_reply_is_not(start_server):
    server = start_server(RecordingServer, responses=MiniOSS())
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
        bucket.put_object("k", b"1" * 300_000)
        for _ in range(3):
            bucket.head_object("k")
            assert bucket.get_object("k").read() == b"1" * 300_000
        assert len(server.connections) == 1
        res = bucket.get_object("k")
        res.read(5)
        res.close()
        bucket.head_object("k")
        assert len(server.connections) == 2


@pytest.mark.parametrize("behaviour", ["close_immediately", "reset_mid_body", "hold_after_body",
                                       "malformed_status_line"])
def test_transport_failures_raise_request_error_as_oss2s_session_does(fault_server, behaviour):
    fault_server.set_behaviours(*[behaviour] * 4)
    body = b"x" * 200_000
    for session in (oss2.Session(), fast_oss2.Session()):
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), fault_server.url, BUCKET, session=session,
                             connect_timeout=(1, 0.5))
        with pytest.raises(oss2.exceptions.RequestError) as info:
            bucket.put_object("k", body)
        assert info.value.status == oss2.exceptions.OSS_REQUEST_ERROR_STATUS
        if isinstance(session, fast_oss2.Session):
            assert isinstance(info.value.exception, ossfast.TransportError)
            if behaviour == "hold_after_body":
                assert isinstance(info.value.exception, ossfast.TimeoutError)
            session.close()
        else:
            session.session.close()


def test_refused_connection_is_request_error(free_port):
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), f"http://127.0.0.1:{free_port}", BUCKET, session=session)
        with pytest.raises(oss2.exceptions.RequestError):
            bucket.get_object("k")


def test_a_reply_cut_short_while_streamed_is_request_error(fault_server):
    fault_server.set_behaviours("wrong_content_length")  # 100 declared, 10 sent, then closed
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), fault_server.url, BUCKET, session=session,
                             enable_crc=False)
        res = bucket.get_object("k")
        with pytest.raises(oss2.exceptions.RequestError):
            res.read()


@pytest.mark.parametrize("status,code", [(503, "ServiceUnavailable"), (500, "InternalError"),
                                         (403, "AccessDenied")])
def test_error_replies_raise_what_oss2_raises(start_server, status, code):
    server = start_server(RecordingServer, responses=lambda req: oss_error(status, code, "nope"))
    caught = []
    for session in (oss2.Session(), fast_oss2.Session()):
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
        with pytest.raises(oss2.exceptions.OssError) as info:
            bucket.put_object("k", b"x")
        e = info.value
        caught.append((type(e), e.status, e.code, e.message))
        if isinstance(session, fast_oss2.Session):
            session.close()
        else:
            session.session.close()
    assert caught[0] == caught[1]
    assert len(server.wait_for(2)) == 2  # oss2 has no retryer: neither session retries


def test_bad_crc_in_a_reply_is_oss2s_inconsistent_error(start_server):
    server = start_server(RecordingServer, responses=lambda req: Reply(200, [("x-oss-hash-crc64ecma", "1")]))
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
        with pytest.raises(oss2.exceptions.InconsistentError):
            bucket.put_object("k", b"data")


def test_repr_and_errors_carry_no_secret(fault_server):
    fault_server.set_behaviours("close_immediately")
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "the-secret-key"), fault_server.url, BUCKET, session=session)
        with pytest.raises(oss2.exceptions.RequestError) as info:
            bucket.put_object("k", b"x")
        assert "the-secret-key" not in repr(session) + str(info.value) + repr(info.value.exception)


def test_tls_with_the_given_ca_and_refused_without(tls_recording_server, tls_material):
    url = tls_recording_server.url
    with fast_oss2.Session(verify=tls_material.ca_file) as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), url, BUCKET, session=session)
        assert bucket.put_object("k", b"over tls").status == 200
    assert tls_recording_server.wait_for(1)[0].body == b"over tls"
    with fast_oss2.Session() as session:  # the system's CA store does not know the test CA
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), url, BUCKET, session=session)
        with pytest.raises(oss2.exceptions.RequestError) as info:
            bucket.put_object("k", b"x")
        assert isinstance(info.value.exception, ossfast.CertificateError)


def test_one_session_shared_by_threads(start_server):
    server = start_server(RecordingServer, responses=MiniOSS())
    errors = []
    with fast_oss2.Session(pool_size=4) as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)

        def work(i):
            try:
                for j in range(20):
                    data = b"%d-%d" % (i, j) * 100
                    bucket.put_object(f"k{i}", data)
                    assert bucket.get_object(f"k{i}").read() == data
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(server.requests) == 8 * 20 * 2 and len(server.connections) <= 16


class _Sized:
    """An iterable with __len__ (as the SDKs' CRC tees are)."""

    def __init__(self, parts):
        self.parts = parts

    def __len__(self):
        return sum(len(p) for p in self.parts)

    def __iter__(self):
        return iter(self.parts)


class _Reader:
    """A file-like object with read() only: no length known."""

    def __init__(self, data):
        self.buf = io.BytesIO(data)

    def read(self, n=-1):
        return self.buf.read(n)


BODIES = {
    "bytes": lambda p: b"abc" * 100, "str": lambda p: "text ü", "bytearray": lambda p: bytearray(b"xyz"),
    "memoryview": lambda p: memoryview(b"0123456789")[2:8], "empty": lambda p: b"", "none": lambda p: None,
    "file at offset": lambda p: _opened_at(p, 5), "BytesIO": lambda p: io.BytesIO(b"in memory"),
    "generator": lambda p: gen([b"a", b"", b"bc"]), "empty generator": lambda p: gen([]),
    "sized iterable": lambda p: _Sized([b"ab", b"cd"]), "empty sized iterable": lambda p: _Sized([]),
    "reader": lambda p: _Reader(b"r" * 70_000), "dict": lambda p: {"a": "1", "b": ["2", "3"]},
    "pairs": lambda p: [("k", "v w"), ("k", "ü")], "big bytes": lambda p: b"B" * 300_000,
}


def _opened_at(path, offset):
    f = open(path, "rb")
    f.seek(offset)
    return f


@pytest.mark.parametrize("method", ["PUT", "POST", "GET", "DELETE"])
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_bodies_framed_as_requests_frames_them(start_server, tmp_path, method, kind):
    """Every body kind the SDKs hand their transport, framed by ossfast as requests frames it
    (Content-Length, chunked, Content-Length: 0, form encoding): the same bytes on the wire."""
    import requests

    from ossfast.integrations import _http

    server = start_server(RecordingServer)
    path = tmp_path / "body.bin"
    path.write_bytes(b"0123456789" * 1000)
    headers = {"Accept-Encoding": None, "User-Agent": "sdk/1", "x-oss-meta-a": "1"}  # as the SDKs pass them
    session, pool = requests.Session(), _http.Pool()
    bodies = [BODIES[kind](path), BODIES[kind](path)]
    try:
        session.request(method, server.url + "/k?acl", headers=headers, data=bodies[0]).close()
        _http.send(pool, method, server.url + "/k?acl", _http.header_pairs(oss2.CaseInsensitiveDict(headers)),
                   bodies[1], _http.Timeout(5, 5), stream=False)
    finally:
        session.close()
        pool.close()
        for b in bodies:
            if hasattr(b, "close"):
                b.close()
    theirs, ours = server.wait_for(2)
    assert wire(ours) == wire(theirs)


def _raw_request(send):
    """What one request puts on the wire, byte for byte (head and chunked body up to its last
    chunk), from ``send(url)``; answered with an empty 200 that closes the connection."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    got = []

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            buf = bytearray()

            def until(pos, sep):  # index of ``sep`` at or after ``pos``, reading more as needed
                while buf.find(sep, pos) < 0:
                    piece = conn.recv(65536)
                    if not piece:
                        raise EOFError(bytes(buf[-200:]))
                    buf.extend(piece)
                return buf.find(sep, pos)

            pos = until(0, b"\r\n\r\n") + 4
            while True:
                eol = until(pos, b"\r\n")
                size = int(buf[pos:eol], 16)
                pos = eol + 2 + size
                while len(buf) < pos + 2:
                    buf.extend(conn.recv(65536))
                pos += 2
                if not size:
                    break
            got.append(bytes(buf))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        send("http://127.0.0.1:%d/k" % listener.getsockname()[1])
    finally:
        t.join(5)
        listener.close()
    head, _, body = got[0].partition(b"\r\n\r\n")
    line, *fields = head.split(b"\r\n")
    fields = [f.split(b":", 1) for f in fields]
    return line, sorted(n.lower() + b":" + (b" (port)" if n.lower() == b"host" else v) for n, v in fields), body


def test_a_chunked_body_goes_through_the_one_send_path(monkeypatch):
    """A body of unknown length is framed as a body handed to ``Connection.write`` (one call per
    request, no write loop of _http's own), and the bytes are requests' to the last one: one
    chunk per item, big ones (after their size line, uncopied) and small ones, a str item as
    UTF-8, empty items skipped."""
    import requests

    from ossfast import transport
    from ossfast._sync import connection
    from ossfast.integrations import _http

    writes = []
    real_write = connection.Connection.write

    def write(self, head, body, *args, **kw):
        writes.append((head.split(b" ", 2)[:2], body.kind))
        return real_write(self, head, body, *args, **kw)

    monkeypatch.setattr(connection.Connection, "write", write)
    monkeypatch.setattr(transport, "write_all", lambda *a: pytest.fail("a write loop beside Connection.write"))
    big = random.Random(3).randbytes(200_000)

    def parts():
        return gen([b"first;", b"", "text \u00fc;", bytearray(big), memoryview(b"0123456789")[2:6], big[:65_536]])

    headers = {"Accept-Encoding": None, "User-Agent": "sdk/1", "x-oss-meta-a": "1"}

    def theirs(url):
        with requests.Session() as session:
            session.request("PUT", url, headers=headers, data=parts()).close()

    def ours(url):
        pool = _http.Pool()
        try:
            reply = _http.send(pool, "PUT", url, _http.header_pairs(oss2.CaseInsensitiveDict(headers)), parts(),
                               _http.Timeout(5, 5), stream=False)
            assert reply.status == 200
        finally:
            pool.close()

    expected, got = _raw_request(theirs), _raw_request(ours)
    assert writes == [([b"PUT", b"/k"], "chunked")]
    assert b"transfer-encoding: chunked" in got[1] and got[2].startswith("6\r\nfirst;\r\n8\r\ntext \u00fc;\r\n30d40\r\n".encode())
    assert got == expected  # request line, every header, and the chunked body byte for byte


def test_a_request_with_proxies_goes_through_oss2s_own_session(start_server):
    proxy = start_server(RecordingServer)
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), "http://oss-cn-hangzhou.aliyuncs.com", BUCKET, session=session,
                             proxies={"http": proxy.url})
        assert bucket.put_object("k", b"via proxy").status == 200
    (req,) = proxy.wait_for(1)
    assert req.target == f"http://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/k" and req.body == b"via proxy"


def test_read_amt_gives_amt_bytes_until_the_end_as_urllib3_does(start_server):
    # oss2's progress adapter counts ``amt`` as read: a short read would cut the download
    # (found by oss2's own test_get_with_progress, see test_integrations_oss2_conformance.py)
    big = random.Random(5).randbytes(1024 * 1024 + 1)
    server = start_server(RecordingServer, responses=lambda req: Reply(200, MiniOSS.meta(big), big))
    seen = []
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, BUCKET, session=session)
        res = bucket.get_object("k", progress_callback=lambda done, total: seen.append((done, total)))
        parts = []
        while True:
            piece = res.read(8192)
            if not piece:
                break
            parts.append(piece)
        assert b"".join(parts) == big and res.client_crc == res.server_crc
        assert all(len(p) == 8192 for p in parts[:-1]) and len(parts[-1]) == len(big) % 8192
        assert seen[-1] == (len(big), len(big))
        raw = bucket.get_object("k").resp
        assert [len(raw.read(300_000)) for _ in range(5)] == [300_000, 300_000, 300_000, len(big) - 900_000, 0]
        assert len(server.connections) == 1  # read to its Content-Length, each reply gave its connection back
