"""Resumable downloads of training data, compatible with Haystack v1's tutorial.

Haystack v1's DPR tutorial calls ``fetch_archive_from_http(url, output_dir)``.
This module re-implements it with the standard library (plus ``tqdm``) so the
notebooks do not need Haystack, and makes it friendlier for large files on
flaky connections: downloads go to ``<file>.part`` and are resumed with an HTTP
``Range`` request when called again, instead of starting over.

A mirror. With ``DPR_NB_DATA_MIRROR=http://HOST:PORT`` set, every file of DPR's
release (``https://dl.fbaipublicfiles.com/dpr/...``, the URLs of the tutorial and of
``DPR_FILES``) and of XQuAD's is fetched from that address instead, by its file name: a classroom
serves a folder holding ``biencoder-nq-dev.json.gz`` and the rest with
``python -m http.server`` and every laptop downloads from it, unchanged code included.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import ssl
import tarfile
import zipfile
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse
from urllib.request import ProxyHandler, Request, build_opener

from tqdm.auto import tqdm

from ..core.errors import DPRNBError, SettingsError

log = logging.getLogger(__name__)

__all__ = ["fetch_archive_from_http", "download_file", "download", "DPR_FILES", "HTTPDownloadError", "resolve_url"]

_CHUNK = 1024 * 1024  # 1 MiB: large enough to be fast, small enough for smooth progress
_USER_AGENT = "dpr_nb-downloader/1.0"
# Everything that means "the connection failed", as opposed to "the server said no"
# (HTTPError, handled separately) or "the local disk failed" (plain OSError on write).
_NETWORK_ERRORS = (URLError, ConnectionError, TimeoutError, http.client.HTTPException, ssl.SSLError)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
DPR_RELEASE = "https://dl.fbaipublicfiles.com/dpr/"
XQUAD_RELEASE = "https://github.com/google-deepmind/xquad/raw/master/"
MIRROR_VARIABLE = "DPR_NB_DATA_MIRROR"


def resolve_url(url: str) -> str:
    """`url`, or its file at the mirror that DPR_NB_DATA_MIRROR names when it is a file of DPR's (or XQuAD's) release.

    >>> resolve_url("https://example.org/data.json")
    'https://example.org/data.json'
    """
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if mirror and url.startswith((DPR_RELEASE, XQUAD_RELEASE)):
        return f"{mirror.rstrip('/')}/{Path(urlparse(url).path).name}"
    return url


class HTTPDownloadError(DPRNBError, RuntimeError):
    """The server answered with an HTTP error status (404, 500, ...)."""

    def __init__(self, url: str, status: int, reason: str = ""):
        self.url, self.status, self.reason = url, status, reason
        hint = (
            "the server may be temporarily unavailable; try again later"
            if status >= 500
            else "check that the URL is correct and still exists"
        )
        super().__init__(
            f"Downloading {url} failed: the server answered HTTP {status} {reason}".rstrip() + f" ({hint})."
        )


def _network_error(url: str, part: Path, err: BaseException) -> ConnectionError:
    # Keep the .part file: the whole point is that the next call resumes from it.
    return ConnectionError(
        f"Network error while downloading {url}: {err}. The partial download is kept at "
        f"{part}; call the function again to resume where it stopped."
    )


def _parse_checksum(checksum: str) -> tuple[str, str]:
    # Fail before downloading gigabytes if the checksum string itself is malformed.
    algo, sep, digest = checksum.partition(":")
    algo = algo.strip().lower()
    if not sep or algo not in hashlib.algorithms_available or not digest.strip():
        raise SettingsError(f"checksum must look like 'sha256:<hex digest>', got {checksum!r}")
    return algo, digest.strip().lower()


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):  # streamed: files may be many GB
            h.update(block)
    return h.hexdigest()


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """Parse 'bytes START-END/TOTAL' or 'bytes */TOTAL' into (START, TOTAL)."""
    m = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _fetch_to_part(opener, url: str, part: Path, timeout: float, show_progress: bool) -> None:
    """Download (or finish downloading) ``url`` into ``part``."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = opener.open(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and offset:
            # "Range not satisfiable": either the .part is already complete (we were
            # interrupted between the last byte and the rename) or it is bogus.
            _, total = _content_range(err.headers.get("Content-Range"))
            err.close()
            if total == offset:
                return
            part.unlink()  # offset becomes 0, so this retry cannot loop
            return _fetch_to_part(opener, url, part, timeout, show_progress)
        err.close()
        raise HTTPDownloadError(url, err.code, str(err.reason or "")) from None
    except _NETWORK_ERRORS as err:
        raise _network_error(url, part, err) from err

    with resp:
        start, range_total = _content_range(resp.headers.get("Content-Range"))
        if offset and resp.status == 206 and start == offset:
            mode = "ab"
        else:
            # Server ignored the Range header (200) or sent an unexpected range:
            # appending would corrupt the file, so restart from zero.
            offset, mode = 0, "wb"
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else range_total
        written = offset
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name[: -len(".part")],
                disable=not show_progress,
            ) as bar,
        ):
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except _NETWORK_ERRORS as err:
                    raise _network_error(url, part, err) from err
                if not chunk:
                    break
                fh.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    # http.client returns b"" (no exception) when the peer closes early, so the
    # only reliable way to notice a cut connection is to compare with the length.
    if total is not None and written < total:
        raise _network_error(url, part, ConnectionError(f"connection closed after {written} of {total} bytes"))


def download_file(
    url: str,
    dest_path: str | Path,
    proxies: dict | None = None,
    timeout: float = 30.0,
    checksum: str | None = None,
    show_progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest_path`` (resumable) and return the path.

    If ``dest_path`` exists it is returned untouched: files only get their final
    name after a complete (and, with ``checksum``, verified) download.
    ``proxies`` follows ``requests``/Haystack style, e.g. ``{"https": "http://proxy:3128"}``;
    ``None`` uses the environment's proxy settings, ``{}`` disables proxies.
    """
    dest = Path(dest_path)
    if dest.exists():
        return dest
    url = resolve_url(url)
    expected = _parse_checksum(checksum) if checksum else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    opener = build_opener(ProxyHandler(proxies)) if proxies is not None else build_opener()
    _fetch_to_part(opener, url, part, timeout, show_progress)

    if expected:
        algo, digest = expected
        actual = _file_digest(part, algo)
        if actual != digest:
            # Delete it: resuming a corrupt file would only reproduce the mismatch.
            part.unlink()
            raise SettingsError(
                f"Checksum mismatch for {url}: expected {algo}:{digest}, got {algo}:{actual}. "
                "The corrupt download was deleted; call again to re-download. If it keeps "
                "failing, the file on the server changed or the checksum is wrong."
            )
    os.replace(part, dest)  # atomic: a file with the final name is always complete
    return dest


def _extract(archive: Path, output_dir: Path) -> bool:
    """Unpack ``archive`` into ``output_dir``; return False if it is not an archive."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(output_dir)  # zipfile already strips '..' and absolute paths
    elif name.endswith(_TAR_SUFFIXES):
        with tarfile.open(archive, "r:*") as tf:
            if hasattr(tarfile, "data_filter"):  # Python 3.12 / 3.11.4+ / 3.8.17+
                tf.extractall(output_dir, filter="data")
            else:
                # Older Pythons: refuse members that would land outside output_dir.
                root = output_dir.resolve()
                for m in tf.getmembers():
                    target = (root / m.name).resolve()
                    if (root not in target.parents and target != root) or m.issym() or m.islnk():
                        raise SettingsError(f"Refusing to extract unsafe member {m.name!r} from {archive}")
                tf.extractall(output_dir)
    elif name.endswith(".gz"):
        out = archive.with_name(archive.name[:-3])
        tmp = out.with_name(out.name + ".part")
        with gzip.open(archive, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)  # streamed: never the whole file in memory
        os.replace(tmp, out)
    else:
        return False
    return True


def _produced(archive: Path) -> Path:
    """The file whose presence means `archive` was fetched (and unpacked) already.

    A gzipped file becomes the file without ``.gz``; a plain file is itself; a ``.zip`` or ``.tar*`` archive, whose
    contents are unknown before it is opened, leaves a marker ``.<archive>.extracted`` once unpacked.
    """
    name = archive.name.lower()
    if name.endswith((".zip", *_TAR_SUFFIXES)):
        return archive.with_name(f".{archive.name}.extracted")
    if name.endswith(".gz"):
        return archive.with_name(archive.name[:-3])
    return archive


def fetch_archive_from_http(
    url: str, output_dir: str | Path, proxies: dict | None = None, timeout: float = 30.0, checksum: str | None = None
) -> bool:
    """Download ``url`` into ``output_dir`` and unpack it (Haystack v1's function).

    Returns False without downloading when the file it would produce is already there (for
    ``biencoder-nq-dev.json.gz``: ``biencoder-nq-dev.json``), True after a successful download. Other files in
    ``output_dir`` (a workshop subset, a ``.records/`` folder, another download) do not count: unlike Haystack v1,
    which skipped whenever the folder held anything. ``.zip``/``.tar*`` archives are extracted and ``.gz`` files
    gunzipped, then the archive is removed; other files are kept as downloaded. ``checksum`` ("sha256:<hex>") is
    checked before extraction. DPR's files come from DPR_NB_DATA_MIRROR when it is set (see the module).
    """
    output_dir = Path(output_dir)
    filename = unquote(Path(urlparse(url).path).name) or "download"
    archive = output_dir / filename
    produced = _produced(archive)
    if produced.exists():
        log.info(f"Found {produced} already. Skipping the download of {url} (delete that file to fetch it again).")
        return False
    output_dir.mkdir(parents=True, exist_ok=True)
    download_file(url, archive, proxies=proxies, timeout=timeout, checksum=checksum)
    if _extract(archive, output_dir):
        archive.unlink()  # only after extraction succeeded, so a failure can be retried
        if produced != archive and not produced.exists():
            produced.touch()  # the marker of an unpacked .zip or .tar archive
    return True


# The files of the original DPR release that the tutorials use, by short name: (url, the unpacked file, about).
DPR_FILES = {
    "nq-train": (
        "https://dl.fbaipublicfiles.com/dpr/data/retriever/biencoder-nq-train.json.gz",
        "biencoder-nq-train.json",
        "Natural Questions training set: 58,880 questions, about 7.4 GB",
    ),
    "nq-dev": (
        "https://dl.fbaipublicfiles.com/dpr/data/retriever/biencoder-nq-dev.json.gz",
        "biencoder-nq-dev.json",
        "Natural Questions dev set: 6,515 questions, about 800 MB",
    ),
    "wikipedia-passages": (
        "https://dl.fbaipublicfiles.com/dpr/wikipedia_split/psgs_w100.tsv.gz",
        "psgs_w100.tsv",
        "21 million 100-word Wikipedia passages (id, text, title), about 13 GB",
    ),
    "xquad-en": (
        XQUAD_RELEASE + "xquad.en.json",
        "xquad.en.json",
        "XQuAD English (SQuAD format, for convert-squad): 1,190 questions on 240 paragraphs, 0.6 MB",
    ),
    "xquad-de": (
        XQUAD_RELEASE + "xquad.de.json",
        "xquad.de.json",
        "XQuAD German, the same 1,190 questions translated (the course's CPU mode), 0.7 MB",
    ),
}


def download(name: str, data_dir: str | Path = "data/dpr_training", **kwargs) -> Path:
    """Fetch a known DPR file by name (see DPR_FILES) into data_dir, unpacked; returns its path.

    Unlike fetch_archive_from_http, files already in data_dir do not stop another file from being fetched: each
    name is downloaded (and resumed) on its own, and skipped only when its unpacked file is already there.
    """
    if name not in DPR_FILES:
        raise SettingsError(
            f"Unknown DPR file {name!r}; known: "
            + "; ".join(f"{key} ({about})" for key, (_, _, about) in DPR_FILES.items())
        )
    url, filename, _ = DPR_FILES[name]
    data_dir = Path(data_dir)
    target = data_dir / filename
    if target.exists():
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    archive = data_dir / unquote(Path(urlparse(url).path).name)
    download_file(url, archive, **kwargs)
    if _extract(archive, data_dir):
        archive.unlink()
    return target
