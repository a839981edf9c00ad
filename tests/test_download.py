"""Tests for dpr_nb.tools.download against a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dpr_nb.core.messages import show_messages
from dpr_nb.tools.download import HTTPDownloadError, download_file, fetch_archive_from_http

PAYLOAD = bytes(range(256)) * 800  # 200 KiB, non-repeating within 256 bytes


class _State:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes to send before cutting (first request only)
        self.ignore_range: set[str] = set()  # paths for which Range is ignored (answers 200)
        self.ranges: list[tuple[str, str | None]] = []  # (path, Range header) per request


def _make_handler(state: _State):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            state.ranges.append((self.path, rng))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and self.path not in state.ignore_range:
                start = int(rng.split("=", 1)[1].split("-", 1)[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut_after.pop(self.path, None)
            if cut is not None:
                # Send part of the body, then drop the connection mid-file.
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # Make sure urllib never routes 127.0.0.1 through a proxy from the environment.
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    state = _State()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_gz_is_gunzipped_and_second_call_skips(server, tmp_path, capsys):
    server.files["/data/train.json.gz"] = gzip.compress(PAYLOAD)
    out = tmp_path / "out"
    assert fetch_archive_from_http(server.base + "/data/train.json.gz", out, timeout=5) is True
    assert sorted(p.name for p in out.iterdir()) == ["train.json"]
    assert (out / "train.json").read_bytes() == PAYLOAD

    n_requests = len(server.ranges)
    show_messages()  # as the command line and the notebooks do (otherwise the message is logged, not printed)
    assert fetch_archive_from_http(server.base + "/data/train.json.gz", out, timeout=5) is False
    assert len(server.ranges) == n_requests  # skipped without touching the network
    assert "Skipping" in capsys.readouterr().out


def test_tar_gz_is_extracted(server, tmp_path):
    server.files["/a.tar.gz"] = _tar_gz({"dpr/train.json": b"train", "dpr/dev.json": b"dev"})
    out = tmp_path / "out"
    assert fetch_archive_from_http(server.base + "/a.tar.gz", out, timeout=5) is True
    assert (out / "dpr" / "train.json").read_bytes() == b"train"
    assert (out / "dpr" / "dev.json").read_bytes() == b"dev"
    assert not (out / "a.tar.gz").exists()


def test_zip_is_extracted(server, tmp_path):
    server.files["/b.zip"] = _zip({"x/one.txt": b"1", "two.txt": b"2"})
    out = tmp_path / "out"
    assert fetch_archive_from_http(server.base + "/b.zip", out, timeout=5) is True
    assert (out / "x" / "one.txt").read_bytes() == b"1"
    assert (out / "two.txt").read_bytes() == b"2"
    assert not (out / "b.zip").exists()


def test_plain_file_is_kept_as_is(server, tmp_path):
    server.files["/model.bin"] = PAYLOAD
    out = tmp_path / "out"
    assert fetch_archive_from_http(server.base + "/model.bin", out, timeout=5) is True
    assert (out / "model.bin").read_bytes() == PAYLOAD


def test_cut_connection_keeps_part_and_resumes_with_range(server, tmp_path):
    server.files["/big.bin"] = PAYLOAD
    server.cut_after["/big.bin"] = 50_000
    out = tmp_path / "out"
    url = server.base + "/big.bin"

    with pytest.raises(ConnectionError) as exc:
        fetch_archive_from_http(url, out, timeout=5)
    part = out / "big.bin.part"
    assert url in str(exc.value) and str(part) in str(exc.value) and "resume" in str(exc.value)
    assert part.read_bytes() == PAYLOAD[:50_000]
    assert not (out / "big.bin").exists()

    # The leftover .part must not make the directory count as "already downloaded".
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert fetch_archive_from_http(url, out, timeout=5, checksum=f"sha256:{sha}") is True
    assert server.ranges[-1] == ("/big.bin", "bytes=50000-")
    assert (out / "big.bin").read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.ignore_range.add("/f.bin")
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage that must not be kept")
    assert download_file(server.base + "/f.bin", dest, timeout=5, show_progress=False) == dest
    assert server.ranges[-1][1] is not None  # we asked to resume...
    assert dest.read_bytes() == PAYLOAD  # ...but got 200, so restarted cleanly


def test_complete_part_is_finished_without_redownload(server, tmp_path):
    # Interrupted between the last byte and the rename: server answers 416.
    server.files["/g.bin"] = PAYLOAD
    dest = tmp_path / "g.bin"
    (tmp_path / "g.bin.part").write_bytes(PAYLOAD)
    download_file(server.base + "/g.bin", dest, timeout=5, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    # And an existing complete file is returned without any request.
    n = len(server.ranges)
    assert download_file(server.base + "/g.bin", dest, timeout=5) == dest
    assert len(server.ranges) == n


def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    server.files["/c.txt.gz"] = gzip.compress(b"hello")
    out = tmp_path / "out"
    url = server.base + "/c.txt.gz"
    with pytest.raises(ValueError) as exc:
        fetch_archive_from_http(url, out, timeout=5, checksum="sha256:" + "0" * 64)
    msg = str(exc.value)
    actual = hashlib.sha256(gzip.compress(b"hello")).hexdigest()
    assert url in msg and "0" * 64 in msg and actual in msg
    assert list(out.iterdir()) == []  # no final file, no extracted file, no .part


def test_malformed_checksum_is_rejected_before_download(server, tmp_path):
    server.files["/d.bin"] = b"x"
    with pytest.raises(ValueError, match="sha256"):
        download_file(server.base + "/d.bin", tmp_path / "d.bin", checksum="deadbeef")
    assert server.ranges == []


def test_404_gives_clear_error(server, tmp_path):
    url = server.base + "/missing.zip"
    with pytest.raises(HTTPDownloadError) as exc:
        fetch_archive_from_http(url, tmp_path / "out", timeout=5)
    assert exc.value.status == 404
    assert url in str(exc.value) and "404" in str(exc.value)


def test_refused_connection_raises_connection_error(tmp_path):
    # Grab a free local port, then close it so nothing is listening there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(ConnectionError, match="resume") as exc:
        download_file(url, tmp_path / "x.bin", timeout=5)
    assert url in str(exc.value)


def test_download_by_name_fetches_unpacks_and_then_skips(server, tmp_path, monkeypatch):
    from dpr_nb.tools import download as download_module

    server.files["/retriever/biencoder-nq-dev.json.gz"] = gzip.compress(PAYLOAD)
    monkeypatch.setitem(
        download_module.DPR_FILES,
        "nq-dev",
        (server.base + "/retriever/biencoder-nq-dev.json.gz", "biencoder-nq-dev.json", "test"),
    )
    (tmp_path / "other.json").write_text("[]")  # another file already there does not block this one
    path = download_module.download("nq-dev", tmp_path, timeout=5)
    assert path == tmp_path / "biencoder-nq-dev.json" and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["biencoder-nq-dev.json", "other.json"]
    requests = len(server.ranges)
    assert download_module.download("nq-dev", tmp_path) == path
    assert len(server.ranges) == requests  # already there: no request


def test_download_of_an_unknown_name_lists_the_known_ones():
    from dpr_nb.tools.download import download

    with pytest.raises(ValueError, match="nq-train.*nq-dev"):
        download("nq-tran")


def test_other_files_in_the_folder_do_not_stop_a_download(server, tmp_path):
    """Haystack v1 skipped whenever the folder held anything: a subset or an .index/ folder (.records/ now) made
    tutorial skip NQ dev, and training then failed on the missing file."""
    server.files["/data/biencoder-nq-dev.json.gz"] = gzip.compress(PAYLOAD)
    out = tmp_path / "out"
    (out / "subset.json.records").mkdir(parents=True)
    (out / "subset.json").write_text("[]")
    assert fetch_archive_from_http(server.base + "/data/biencoder-nq-dev.json.gz", out, timeout=5) is True
    assert (out / "biencoder-nq-dev.json").read_bytes() == PAYLOAD


def test_an_unpacked_archive_is_not_fetched_again(server, tmp_path):
    server.files["/a.tar.gz"] = _tar_gz({"dpr/train.json": b"train"})
    out = tmp_path / "out"
    assert fetch_archive_from_http(server.base + "/a.tar.gz", out, timeout=5) is True
    requests = len(server.ranges)
    assert fetch_archive_from_http(server.base + "/a.tar.gz", out, timeout=5) is False
    assert len(server.ranges) == requests


def test_the_mirror_serves_dprs_files_under_their_real_urls(server, tmp_path, monkeypatch):
    from dpr_nb.tools.download import DPR_FILES, download

    server.files["/mirror/biencoder-nq-dev.json.gz"] = gzip.compress(PAYLOAD)
    monkeypatch.setenv("DPR_NB_DATA_MIRROR", server.base + "/mirror/")
    url = DPR_FILES["nq-dev"][0]  # https://dl.fbaipublicfiles.com/dpr/data/retriever/biencoder-nq-dev.json.gz
    assert fetch_archive_from_http(url, tmp_path / "a", timeout=5) is True
    assert (tmp_path / "a" / "biencoder-nq-dev.json").read_bytes() == PAYLOAD
    assert download("nq-dev", tmp_path / "b", timeout=5).read_bytes() == PAYLOAD
    assert [path for path, _ in server.ranges] == ["/mirror/biencoder-nq-dev.json.gz"] * 2
