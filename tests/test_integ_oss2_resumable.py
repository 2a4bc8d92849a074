"""oss2's resumable upload and download (threads, ranged GETs, multipart, progress callbacks,
CRC checks) over ``ossfast.integrations.oss2.Session``: the same files, parts and progress as
over oss2's own session; and a download whose connection is cut mid-body fails with oss2's
RequestError and resumes from its checkpoint to the right bytes."""
from __future__ import annotations

import random
import threading

import pytest

oss2 = pytest.importorskip("oss2")

from ossfast.integrations import oss2 as fast_oss2  # noqa: E402
from srv_recording import RecordingServer  # noqa: E402
from srv_replies import Reply  # noqa: E402
from test_integrations_oss2_session import MiniOSS, sdk_default_leaks  # noqa: E402

SIZE = 3 * 1024 * 1024 + 17


class ResumableOSS(MiniOSS):
    """MiniOSS with ListParts (what oss2's resumable upload asks before it sends parts)."""

    def answer(self, req, method, bucket, key, q):
        if method == "GET" and "uploadId" in q:
            parts = self.parts.get(q["uploadId"], {})
            xml = b"".join(b"<Part><PartNumber>%d</PartNumber><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                           b"%s<Size>%d</Size></Part>" % (n, b"<ETag>%s</ETag>" % dict(self.meta(d))["ETag"].encode(),
                                                          len(d)) for n, d in sorted(parts.items()))
            return Reply(200, [("Content-Type", "application/xml")],
                         b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListPartsResult><Bucket>%s</Bucket>"
                         b"<Key>%s</Key><UploadId>%s</UploadId><NextPartNumberMarker>0</NextPartNumberMarker>"
                         b"<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>%s</ListPartsResult>"
                         % (bucket.encode(), key.encode(), q["uploadId"].encode(), xml))
        return super().answer(req, method, bucket, key, q)


class CuttingServer(RecordingServer):
    """A RecordingServer that, for the replies listed in ``cut`` (a set of ids), sends the
    head and half the body, then resets the connection."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cut: set = set()

    def _reply(self, link, conn, rec):
        if not self.cut:
            return super()._reply(link, conn, rec)
        reply = self.handler(rec)
        if reply.status != 206:
            return self._send(link, conn, rec, reply)
        self.cut.pop()
        head = reply.to_bytes("CUT0000000000000000000000")
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()
        link.send(head[:len(head) - len(reply.body) // 2])
        link.close(reset=True)
        raise ConnectionResetError("cut on purpose")

    def _send(self, link, conn, rec, reply):
        self._queue.appendleft(reply)
        return super()._reply(link, conn, rec)

    def _connection_error(self, link, exc):
        if "cut on purpose" not in str(exc):
            super()._connection_error(link, exc)


def _run(bucket, tmp_path, tag):
    data = random.Random(7).randbytes(SIZE)
    src = tmp_path / f"src-{tag}"
    src.write_bytes(data)
    up, down = [], []
    lock = threading.Lock()

    def progress(into):
        def cb(done, total):
            with lock:
                into.append((done, total))
        return cb

    store = oss2.ResumableStore(root=str(tmp_path / f"cp-{tag}"))
    dstore = oss2.ResumableDownloadStore(root=str(tmp_path / f"dcp-{tag}"))
    res = oss2.resumable_upload(bucket, "obj", str(src), store=store, multipart_threshold=1024 * 1024,
                                part_size=512 * 1024, num_threads=2, progress_callback=progress(up))
    dst = tmp_path / f"dst-{tag}"
    oss2.resumable_download(bucket, "obj", str(dst), store=dstore, multiget_threshold=1024 * 1024,
                            part_size=400 * 1024, num_threads=3, progress_callback=progress(down))
    small = tmp_path / f"small-{tag}"
    small.write_bytes(data[:1000])
    oss2.resumable_upload(bucket, "small", str(small), store=store)  # under the threshold: one put
    dsmall = tmp_path / f"dsmall-{tag}"
    oss2.resumable_download(bucket, "small", str(dsmall), store=dstore)
    return (res.status, res.crc, dst.read_bytes() == data, dsmall.read_bytes() == data[:1000],
            max(up), max(down), len(up) > 2, len(down) > 2)


def test_resumable_upload_and_download_as_over_oss2s_session(start_server, tmp_path):
    got = {}
    for name in ("oss2", "ossfast"):
        server = start_server(RecordingServer, responses=ResumableOSS())
        auth = oss2.Auth("ak", "sk")
        if name == "oss2":
            with sdk_default_leaks():
                session = oss2.Session()
                got[name] = _run(oss2.Bucket(auth, server.url, "bkt", session=session), tmp_path, name)
                session.session.close()
        else:
            with fast_oss2.Session() as session:
                got[name] = _run(oss2.Bucket(auth, server.url, "bkt", session=session), tmp_path, name)
    assert got["ossfast"] == got["oss2"]
    assert got["ossfast"][2:4] == (True, True) and got["ossfast"][5] == (SIZE, SIZE)


def test_a_download_cut_mid_body_is_request_error_then_resumes(start_server, tmp_path):
    mini = ResumableOSS()
    data = random.Random(3).randbytes(SIZE)
    mini.objects["obj"] = data
    server = start_server(CuttingServer, responses=mini)
    dst = tmp_path / "dst"
    dstore = oss2.ResumableDownloadStore(root=str(tmp_path / "dcp"))
    with fast_oss2.Session() as session:
        bucket = oss2.Bucket(oss2.Auth("ak", "sk"), server.url, "bkt", session=session)
        server.cut = {1}
        with pytest.raises(oss2.exceptions.RequestError):
            oss2.resumable_download(bucket, "obj", str(dst), store=dstore, multiget_threshold=1024 * 1024,
                                    part_size=512 * 1024, num_threads=1)
        assert not dst.exists() and not server.cut
        ranged = sum(1 for r in server.requests if r.header("Range"))
        oss2.resumable_download(bucket, "obj", str(dst), store=dstore, multiget_threshold=1024 * 1024,
                                part_size=512 * 1024, num_threads=1)
        assert dst.read_bytes() == data
        again = sum(1 for r in server.requests if r.header("Range")) - ranged
        assert again == -(-SIZE // (512 * 1024)) - (ranged - 1)  # only the parts not done before
