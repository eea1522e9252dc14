#!/usr/bin/env python3
"""Tiny S3 admin client (Python standard library only, AWS Signature V4).

Used by scripts/services.sh to create the dev bucket in the local SeaweedFS
S3 gateway, and handy for poking at it by hand:

    S3_ENDPOINT=http://127.0.0.1:8333 S3_ACCESS_KEY=... S3_SECRET_KEY=... \
        python3 scripts/s3_admin.py list-buckets

Or, after `scripts/services.sh up`:  source .run/services.env && python3 scripts/s3_admin.py ...

Commands:
    list-buckets
    create-bucket NAME          (succeeds if the bucket already exists and is ours)
    head-bucket NAME            (exit 0 if it exists, 1 otherwise)
    put BUCKET KEY FILE|-       (single PUT; FILE '-' reads stdin)
    get BUCKET KEY              (object body to stdout)
    delete BUCKET KEY
    list BUCKET [PREFIX]        (ListObjectsV2, first page only)

Only path-style addressing is used (http://host:port/bucket/key). Per-request timeout:
S3_ADMIN_TIMEOUT seconds (default 30). Importable: `from s3_admin import S3` gives
S3.request(method, path, query=, body=, headers=, sign=) -> (status, headers, body)
for raw calls (multipart, checksum headers, ...).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import http.client
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Error(Exception):
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body
        code = ""
        try:
            code = ET.fromstring(body).findtext("Code") or ""
        except ET.ParseError:
            pass
        self.code = code
        super().__init__(f"HTTP {status} {code}: {body[:300]!r}")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri_encode(s: str, keep_slash: bool) -> str:
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


class S3:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1"):
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"bad endpoint {endpoint!r}")
        self.scheme, self.netloc = u.scheme, u.netloc
        self.access_key, self.secret_key, self.region = access_key, secret_key, region

    @classmethod
    def from_env(cls) -> "S3":
        missing = [v for v in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY") if not os.environ.get(v)]
        if missing:
            sys.exit(f"s3_admin: missing environment variables: {', '.join(missing)}")
        return cls(os.environ["S3_ENDPOINT"], os.environ["S3_ACCESS_KEY"],
                   os.environ["S3_SECRET_KEY"], os.environ.get("S3_REGION") or "us-east-1")

    def request(self, method: str, path: str, query: dict | None = None, body: bytes = b"",
                headers: dict | None = None, sign: bool = True, timeout: float | None = None):
        """Send one request; returns (status, headers-dict-lowercase, body). Never raises on HTTP errors."""
        query = query or {}
        headers = {k.lower(): str(v) for k, v in (headers or {}).items()}
        headers["host"] = self.netloc
        canonical_uri = _uri_encode(path, keep_slash=True)
        canonical_qs = "&".join(
            f"{_uri_encode(k, False)}={_uri_encode(str(v), False)}" for k, v in sorted(query.items()))
        if sign:
            now = _dt.datetime.now(_dt.timezone.utc)
            amz_date = now.strftime("%Y%m%dT%H%M%SZ")
            date = now.strftime("%Y%m%d")
            headers.setdefault("x-amz-content-sha256", hashlib.sha256(body).hexdigest())
            headers["x-amz-date"] = amz_date
            signed = sorted(headers)
            canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
            signed_headers = ";".join(signed)
            creq = "\n".join([method, canonical_uri, canonical_qs, canonical_headers, signed_headers,
                              headers["x-amz-content-sha256"]])
            scope = f"{date}/{self.region}/s3/aws4_request"
            sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
            k = _hmac(("AWS4" + self.secret_key).encode(), date)
            for part in (self.region, "s3", "aws4_request"):
                k = _hmac(k, part)
            sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
            headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                        f"SignedHeaders={signed_headers}, Signature={sig}")
        conn_cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        if timeout is None:
            timeout = float(os.environ.get("S3_ADMIN_TIMEOUT") or 30)
        conn = conn_cls(self.netloc, timeout=timeout)
        try:
            url = canonical_uri + ("?" + canonical_qs if canonical_qs else "")
            conn.request(method, url, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def _ok(self, *args, **kwargs):
        status, hdrs, data = self.request(*args, **kwargs)
        if status >= 300:
            raise S3Error(status, data)
        return status, hdrs, data

    # --- operations -------------------------------------------------------
    def list_buckets(self) -> list[str]:
        _, _, data = self._ok("GET", "/")
        root = ET.fromstring(data)
        return [e.text or "" for e in root.iter() if e.tag.split("}")[-1] == "Name"]

    def head_bucket(self, bucket: str) -> bool:
        status, _, data = self.request("HEAD", f"/{bucket}")
        if status == 200:
            return True
        if status == 404:
            return False
        raise S3Error(status, data)

    def create_bucket(self, bucket: str) -> bool:
        """Returns True if created, False if it already existed (owned by us)."""
        status, _, data = self.request("PUT", f"/{bucket}")
        if status < 300:
            return True
        err = S3Error(status, data)
        if err.code == "BucketAlreadyOwnedByYou":
            return False
        raise err

    def put(self, bucket: str, key: str, body: bytes, headers: dict | None = None) -> dict:
        return self._ok("PUT", f"/{bucket}/{key}", body=body, headers=headers)[1]

    def get(self, bucket: str, key: str) -> bytes:
        return self._ok("GET", f"/{bucket}/{key}")[2]

    def delete(self, bucket: str, key: str) -> None:
        self._ok("DELETE", f"/{bucket}/{key}")

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        q = {"list-type": "2"}
        if prefix:
            q["prefix"] = prefix
        _, _, data = self._ok("GET", f"/{bucket}", query=q)
        return [e.text or "" for e in ET.fromstring(data).iter() if e.tag.split("}")[-1] == "Key"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    s3 = S3.from_env()
    try:
        if cmd == "list-buckets" and not args:
            print("\n".join(s3.list_buckets()))
        elif cmd == "create-bucket" and len(args) == 1:
            print(("created bucket " if s3.create_bucket(args[0]) else "bucket exists: ") + args[0])
        elif cmd == "head-bucket" and len(args) == 1:
            return 0 if s3.head_bucket(args[0]) else 1
        elif cmd == "put" and len(args) == 3:
            body = sys.stdin.buffer.read() if args[2] == "-" else open(args[2], "rb").read()
            h = s3.put(args[0], args[1], body)
            print(h.get("etag", ""))
        elif cmd == "get" and len(args) == 2:
            sys.stdout.buffer.write(s3.get(args[0], args[1]))
        elif cmd == "delete" and len(args) == 2:
            s3.delete(args[0], args[1])
        elif cmd == "list" and 1 <= len(args) <= 2:
            print("\n".join(s3.list(*args)))
        else:
            print(f"s3_admin: bad usage: {' '.join(argv)}\n{__doc__}", file=sys.stderr)
            return 2
    except S3Error as e:
        print(f"s3_admin {cmd}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"s3_admin {cmd}: cannot reach {s3.scheme}://{s3.netloc}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
