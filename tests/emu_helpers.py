"""Helpers for the emulator's tests: plain HTTP clients, a hand-made WriteGetObjectResponse
sender (any header, any framing), and handlers loadable by name."""

import http.client
import json
import socket
import time
import urllib.parse
import urllib.request
from email.utils import formatdate

from ossfast import _pure

WGOR_TARGET = "/?x-oss-write-get-object-response"


def split_url(url):
    p = urllib.parse.urlsplit(url)
    return p.hostname, p.port, (p.path or "/") + (f"?{p.query}" if p.query else "")


def http_request(url, method="GET", headers=None, body=None, timeout=30):
    """(status, headers as a case-insensitive message, body) of one request; no exceptions on
    4xx/5xx."""
    host, port, target = split_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


def raw_request(base_url, data, timeout=10):
    """Send ``data`` (bytes, as is) and return (status or None, whole reply bytes)."""
    host, port, _ = split_url(base_url)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except OSError:
            pass
    reply = b"".join(chunks)
    status = None
    if reply.startswith(b"HTTP/1."):
        status = int(reply.split(b" ", 2)[1])
    return status, reply


def _complete(reply):
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def error_code(body):
    """The <Code> of an OSS XML error body."""
    text = body.decode("utf-8", "replace")
    start = text.find("<Code>")
    end = text.find("</Code>")
    return text[start + 6:end] if start >= 0 and end > start else None


def event_context(event):
    ev = json.loads(event)
    g = ev["getObjectContext"]
    return ev, g["inputOssUrl"], g["outputRoute"], g["outputToken"]


def read_url(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def wgor_headers(creds, route, token, status=200, length=0, extra=(), date=None, version="v1",
                 region="cn-hangzhou", drop=(), additional=""):
    """Signed WriteGetObjectResponse headers (a list of pairs), signed by the pure twin over
    exactly these headers. ``extra`` pairs are added before signing; ``drop`` names are left
    out (after signing, so that the signature still covers them); ``additional``: V4's
    AdditionalHeaders ("host", say)."""
    headers = [("Host", route), ("Content-Length", str(length)),
               ("x-oss-request-route", route), ("x-oss-request-token", token)]
    if status is not None:
        headers.append(("x-oss-fwd-status", str(status)))
    headers += list(extra)
    now = time.time() if date is None else date
    if creds.security_token:
        headers.append(("x-oss-security-token", creds.security_token))
    if version == "v1":
        headers.append(("Date", formatdate(now, usegmt=True)))
        block = "\r\n".join(f"{n}: {v}" for n, v in headers).encode("latin-1")
        sig = _pure.v1_sign(creds.access_key_secret.encode(), b"POST", block, WGOR_TARGET.encode())
        headers.append(("Authorization", f"OSS {creds.access_key_id}:{sig}"))
    else:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        headers += [("x-oss-date", stamp), ("x-oss-content-sha256", "UNSIGNED-PAYLOAD")]
        block = "\r\n".join(f"{n}: {v}" for n, v in headers).encode("latin-1")
        sig = _pure.v4_sign(None, creds.access_key_secret.encode(), b"POST", b"/",
                            b"x-oss-write-get-object-response", block, additional.encode(), region.encode(),
                            b"oss")
        more = f",AdditionalHeaders={additional}" if additional else ""
        headers.append(("Authorization", f"OSS4-HMAC-SHA256 Credential={creds.access_key_id}/"
                                         f"{stamp[:8]}/{region}/oss/aliyun_v4_request{more},Signature={sig}"))
    return [(n, v) for n, v in headers if n.lower() not in {d.lower() for d in drop}]


def send_wgor(endpoint, headers, body=b"", chunked=False, stop_after=None, stall_after=None, timeout=30):
    """POST a WriteGetObjectResponse with exactly ``headers``; (status, headers, body), or
    (None, None, None) when the connection broke. ``chunked`` sends the body chunked;
    ``stop_after`` sends only that many body bytes, then closes; ``stall_after`` sends that
    many, then waits for the reply."""
    host, port, _ = split_url(endpoint)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest("POST", WGOR_TARGET, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        if chunked:
            if body:
                conn.send(b"%x\r\n%s\r\n" % (len(body), body))
            conn.send(b"0\r\n\r\n")
        elif stop_after is not None:
            conn.send(body[:stop_after])
            conn.sock.shutdown(socket.SHUT_WR)
            return None, None, None
        elif stall_after is not None:
            conn.send(body[:stall_after])
        else:
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    except (ConnectionError, http.client.HTTPException, socket.timeout):
        return None, None, None
    finally:
        conn.close()


# Handlers loaded by name ("emu_helpers:upper", "path/to/emu_helpers.py:upper").

def upper(event, context):
    """Upper-cases the original object (V1, stdlib only but for ossfast)."""
    import ossfast

    _, url, route, token = event_context(event)
    with urllib.request.urlopen(url, timeout=30) as r:
        data = r.read()
    with ossfast.Client(ossfast.Credentials.from_fc_context(context), signature_version="v1") as client:
        client.write_get_object_response(route, token, 200, data.upper(), content_type="text/plain")


class Handlers:
    @staticmethod
    def nested(event, context):
        upper(event, context)


not_callable = 42
