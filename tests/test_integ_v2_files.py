"""alibabacloud-oss-v2's file-level helpers over ``ossfast.integrations.oss_v2.HttpClient``:
the Uploader (multipart, parts in parallel, CRC-64 of the whole), the Downloader (ranged GETs
in parallel, CRC checks) and ``open_file`` (a ReadOnlyFile: read, readinto, seek, prefetch,
built on streamed ``iter_bytes``) give what they give over the SDK's own transport."""
from __future__ import annotations

import io
import random

import pytest

oss = pytest.importorskip("alibabacloud_oss_v2")

from ossfast.integrations import oss_v2 as fast_v2  # noqa: E402
from srv_recording import RecordingServer  # noqa: E402
from srv_replies import Reply  # noqa: E402
from test_integrations_oss2_session import MiniOSS, sdk_default_leaks  # noqa: E402
from test_integrations_oss_v2_transport import make_client  # noqa: E402

DATA = random.Random(11).randbytes(2 * 1024 * 1024 + 333)


class RangeOSS(MiniOSS):
    """MiniOSS that also answers open-ended ranges (``bytes=N-``), as open_file asks."""

    def answer(self, req, method, bucket, key, q):
        rng = req.header("Range")
        if method == "GET" and rng and rng.endswith("-") and key in self.objects:
            data = self.objects[key]
            a = int(rng[len("bytes="):-1])
            headers = [("Content-Type", "application/octet-stream"), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
                       ("x-oss-object-type", "Normal"), self.meta(data)[0],
                       ("Content-Range", f"bytes {a}-{len(data) - 1}/{len(data)}")]
            return Reply(206, headers, data[a:])
        return super().answer(req, method, bucket, key, q)


def _sequence(client, tmp_path, tag):
    src = tmp_path / f"src-{tag}"
    src.write_bytes(DATA)
    up = client.uploader(part_size=512 * 1024, parallel_num=3)
    res = up.upload_file(oss.PutObjectRequest(bucket="bkt", key="obj"), str(src))
    out = [("upload", res.status_code, res.hash_crc64)]
    dst = tmp_path / f"dst-{tag}"
    down = client.downloader(part_size=300 * 1024, parallel_num=3)
    dres = down.download_file(oss.GetObjectRequest(bucket="bkt", key="obj"), str(dst))
    out.append(("download", dres.written, dst.read_bytes() == DATA))
    with client.open_file("bkt", "obj") as f:
        head = f.read(1000)
        buf = bytearray(70_000)
        n = f.readinto(buf)
        f.seek(1_500_000)
        tail = f.read()
        f.seek(10)
        again = f.read(5)
    out.append(("open_file", head == DATA[:1000], bytes(buf[:n]) == DATA[1000:1000 + n], n,
                tail == DATA[1_500_000:], again == DATA[10:15]))
    with client.open_file("bkt", "obj", enable_prefetch=True, prefetch_threshold=0, chunk_size=256 * 1024,
                          prefetch_num=3) as f:
        whole = io.BytesIO()
        while True:
            piece = f.read(100_000)
            if not piece:
                break
            whole.write(piece)
    out.append(("prefetch", whole.getvalue() == DATA))
    return out


def test_uploader_downloader_and_open_file_as_over_the_sdks_transport(start_server, tmp_path):
    got = {}
    for name in ("sdk", "ossfast"):
        server = start_server(RecordingServer, responses=RangeOSS())
        if name == "sdk":
            with sdk_default_leaks():
                got[name] = _sequence(make_client(server.url), tmp_path, name)
        else:
            with fast_v2.HttpClient() as http:
                got[name] = _sequence(make_client(server.url, http), tmp_path, name)
    print(got)
    assert got["ossfast"] == got["sdk"]
    assert got["ossfast"][1] == ("download", len(DATA), True) and all(got["ossfast"][2][1:2] + got["ossfast"][3][1:])
