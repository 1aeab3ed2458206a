"""A real S3-compatible server (moto's server mode) on the loopback, for the object-store tests.

The server runs in a thread of the test process and answers on 127.0.0.1 only; the toolkit, its
workers (which inherit the environment) and s3fs reach it through the standard variables this sets:
``AWS_ENDPOINT_URL`` and dummy ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``. The metadata
service is switched off, so a test without credentials never looks past the loopback for them.

:class:`FaultyProxy` sits between a client and the server and breaks listings the way a store does
midway: it cuts every listing into pages of two objects and refuses every page after the first.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import http.server
import logging
import os
import threading
import urllib.parse

import pytest

#: dummy credentials: what the server is given and what no message or log may show
KEY_ID, SECRET = "AKIDDATAPREPTEST0001", "dataprep-test-secret-never-printed"
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}


_NUMBERS = itertools.count(1)


class S3:
    """The running server: ``endpoint``, a client (``fs``, s3fs) and fresh buckets."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    @functools.cached_property
    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=self.endpoint)

    def bucket(self, stem: str = "bucket") -> str:
        """A new empty bucket -> its name."""
        name = f"{stem}-{next(_NUMBERS)}-{os.getpid()}"
        self.fs.mkdir(name)
        return name

    def put(self, url: str, data: bytes) -> None:
        self.fs.pipe_file(url, data)


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line a request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The server, with the environment a user of it has (dummy credentials, its endpoint)."""
    for k, v in {**BASE_ENV, "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    return S3(s3_server)


class FaultyProxy:
    """Forwards to ``target``. ``refuse="pages"``: listings come in pages of 2 and every page after
    the first is refused (403); ``refuse="nothing"``: pages of 2, all answered; ``refuse="puts"``:
    every upload but a lock object's is refused (403); ``refuse="shards"``: uploads of ``.tar`` objects;
    ``refuse="deletes"``: every deletion but a lock object's."""

    def __init__(self, target: str, refuse: str = "pages"):
        self.target = urllib.parse.urlsplit(target)
        self.refused = 0
        self.listed = 0  # listing requests seen (pages)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers "Expect: 100-continue", which uploads send

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                put = refuse == "puts" and self.command in ("PUT", "POST") and not parts.path.endswith(".dataprep-lock")
                put = put or (refuse == "shards" and self.command in ("PUT", "POST") and parts.path.endswith(".tar"))
                deleting = self.command == "DELETE" or (self.command == "POST" and "delete" in query)
                put = put or (refuse == "deletes" and deleting and not parts.path.endswith(".dataprep-lock"))
                proxy.listed += "list-type" in query
                if put or (refuse in ("pages", "nothing") and "list-type" in query):
                    if put or (refuse == "pages" and "continuation-token" in query):
                        proxy.refused += 1
                        refusal = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                        self.send_response(403)
                        self.send_header("Content-Length", str(len(refusal)))
                        self.end_headers()
                        self.wfile.write(refusal)
                        return
                    query["max-keys"] = ["2"]
                path = urllib.parse.urlunsplit(("", "", parts.path, urllib.parse.urlencode(query, doseq=True), ""))
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                conn.request(self.command, path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def store_fault(s3: S3, monkeypatch, fault: str):
    """``no-credentials``: the credentials' variables unset; ``listing-refused-midway``: the store
    reached through a :class:`FaultyProxy` that refuses a listing's second page (yielded, closed on
    exit); any other: nothing changed (None)."""
    proxy = None
    if fault == "no-credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    elif fault == "listing-refused-midway":
        proxy = FaultyProxy(s3.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        yield proxy
    finally:
        if proxy:
            proxy.close()
