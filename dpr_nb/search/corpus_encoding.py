"""Encode a passages TSV of any size into an embeddings file on disk: streamed, in shards, resumable, under torchrun.

DPR's Wikipedia corpus (psgs_w100.tsv, 13 GB) has 21 million passages; at 768 dimensions their embeddings take 32 GB
even in float16, far more than Colab's memory. So passages are read from the TSV one batch at a time and each batch's
embeddings go straight into their own rows of an .npy file, which readers open memory-mapped
(`np.load(path, mmap_mode="r")`): memory stays at one batch whatever the corpus's size.

    encoding_dir/
        manifest.json              what was encoded: the corpus (size, fingerprint), rows, dim, dtype, the passage
                                   encoder and the settings that decide the numbers
        row_offsets.npy            int64 (rows,): the byte where each passage's line starts in the TSV
        embeddings.npy             (rows, dim) float16, row i = passage i of the TSV, written in place
        progress/shard-00003.json  {"start": 300000, "stop": 400000, "done": 20480}: rows of the shard on disk

Resuming. A batch's rows are written, flushed to disk, and only then counted in their shard's progress file (written
to a temporary file and renamed, so never half-written): whatever a kill interrupts, the rows a progress file counts
are on disk. The same call again skips them and starts at the first uncounted batch. Batches start at the same rows
in every run (the shard's start plus a multiple of `batch_size`) and an eval-mode encoder is deterministic, so a
resumed file is byte for byte the file of an uninterrupted run (tested by killing a run with SIGKILL).

torchrun. The corpus is cut into shards of `shard_size` rows; process r of W encodes shards r, r+W, r+2W, ... into
the same file (each writes only its own rows) and records only its own shards, so processes never wait for each
other, and a resumed run may use another number of processes. Process 0 scans the TSV first and, at the end, waits
for every shard to be recorded.

    torchrun --nproc_per_node 4 -m dpr_nb.cli index --model saved_models/dpr --corpus psgs_w100.tsv --out wiki-index

    >>> shard_ranges(rows=250, shard_size=100)
    [(0, 100), (100, 200), (200, 250)]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..core.errors import SettingsError
from ..core.files import write_text_atomic
from ..data.documents import passage_document
from ..data.dpr_file import Passage
from ..data.passages import is_gzipped, read_passage_rows
from ..training.distributed import ProcessGroup, current_group

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
ROW_OFFSETS = "row_offsets.npy"
PROGRESS = "progress"
FLOAT16_MAX = float(np.finfo(np.float16).max)


# ---------------------------------------------------------------------------------------------------------------
# Reading the corpus as a stream


def corpus_fingerprint(path: str | Path) -> dict:
    """Size and a hash of the first and last MiB: tells a corpus from another (or an edited one) in milliseconds,
    and survives a copy to another disk, which a modification time does not."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    return {"bytes": size, "sha1_head_tail": digest.hexdigest()}


def model_fingerprint(retriever) -> dict:
    """What decides the passage embeddings: the encoder (the sum of its weights tells one checkpoint from another;
    float64, so a GPU and a CPU copy agree to many digits), its maximum length, whether titles are embedded."""
    encoder = retriever.model.passage_encoder
    total = sum(float(p.detach().double().sum()) for p in encoder.parameters())
    return {
        "source": str(encoder.source),
        "weights_sum": total,
        "dim": int(encoder.dim),
        "max_seq_len_passage": int(retriever.max_seq_len_passage),
        "embed_title": bool(retriever.embed_title),
    }


def shard_ranges(rows: int, shard_size: int) -> list[tuple[int, int]]:
    """Contiguous (start, stop) row ranges of at most shard_size rows."""
    return [(start, min(start + shard_size, rows)) for start in range(0, rows, shard_size)]


def _write_json(path: Path, values: dict) -> None:
    """Atomically: a temporary file renamed over the old one, so a reader (or a resumed run) never sees half."""
    write_text_atomic(path, json.dumps(values, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# A finished (or partly finished) encoding, as readers see it


class EncodedCorpus:
    """An encoding folder: its manifest, its embeddings (memory-mapped, read-only) and its passages, in row order."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / MANIFEST).is_file():
            raise FileNotFoundError(
                f"{self.folder} holds no corpus encoding ({MANIFEST} is missing): encode one "
                "with dpr_nb.search.corpus_encoding.encode_corpus or `dpr-nb index`."
            )
        self.manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.rows, self.dim = int(self.manifest["rows"]), int(self.manifest["dim"])
        self.similarity_function = self.manifest["similarity"]  # the key in manifests written before 0.2 too

    @property
    def embeddings(self) -> np.ndarray:
        """(rows, dim) memory-mapped: slicing reads only those rows from disk."""
        return np.load(self.folder / EMBEDDINGS, mmap_mode="r")

    def shard_progress(self) -> list[dict]:
        """Every shard with the rows recorded as done (0 for a shard never started)."""
        shards = []
        for index, (start, stop) in enumerate(shard_ranges(self.rows, int(self.manifest["shard_size"]))):
            path = self.folder / PROGRESS / f"shard-{index:05d}.json"
            done = json.loads(path.read_text(encoding="utf-8"))["done"] if path.is_file() else 0
            shards.append({"index": index, "start": start, "stop": stop, "done": done})
        return shards

    def rows_done(self) -> int:
        return sum(shard["done"] for shard in self.shard_progress())

    @property
    def complete(self) -> bool:
        return self.rows_done() == self.rows

    def passages(self) -> Iterator[Passage]:
        """The corpus's passages in row order, streamed from the TSV."""
        return (passage for _, passage in read_passage_rows(self.manifest["corpus"]))

    def __repr__(self) -> str:
        return f"EncodedCorpus({str(self.folder)!r}: {self.rows_done():,} of {self.rows:,} rows, dim {self.dim})"


# ---------------------------------------------------------------------------------------------------------------
# Encoding


def _prepare(folder: Path, corpus: Path, manifest: dict, progress_bar: bool) -> None:
    """Scan the TSV for row offsets, create the (sparse) embeddings file, then the manifest: the manifest comes
    last, so a folder with a manifest is always completely prepared."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / PROGRESS, ignore_errors=True)  # records of an older, unfinished preparation count nothing
    offsets = array("q")  # 8 bytes a row, where a list of Python ints would take 36 (760 MB for Wikipedia)
    for offset, _ in tqdm(
        read_passage_rows(corpus),
        desc=f"scanning {corpus.name}",
        unit=" passages",
        disable=not progress_bar,
        mininterval=2,
    ):
        offsets.append(offset)
    if not offsets:
        raise SettingsError(f"{corpus}: no passages (a header row 'id<TAB>text<TAB>title' and one row per passage).")
    temporary = folder / f".{ROW_OFFSETS}.tmp-{os.getpid()}.npy"
    np.save(temporary, np.frombuffer(offsets, dtype=np.int64))
    os.replace(temporary, folder / ROW_OFFSETS)
    temporary = folder / f".{EMBEDDINGS}.tmp-{os.getpid()}.npy"
    # open_memmap writes the .npy header and extends the file to its full size without writing the rows (a sparse
    # file on Linux): disk is taken only as rows are written.
    embeddings = np.lib.format.open_memmap(
        temporary, mode="w+", dtype=manifest["dtype"], shape=(len(offsets), manifest["dim"])
    )
    del embeddings  # closes the file
    os.replace(temporary, folder / EMBEDDINGS)
    (folder / PROGRESS).mkdir(exist_ok=True)
    _write_json(folder / MANIFEST, {**manifest, "rows": len(offsets)})


def _check_manifest(folder: Path, saved: dict, wanted: dict) -> None:
    """A resumed run must produce the same numbers as the first: same corpus, model and settings."""
    for key, value in wanted.items():
        old = saved.get(key)
        if key == "model":  # the weights' sum may differ in the last digits between a GPU and a CPU copy
            same = {k: v for k, v in old.items() if k != "weights_sum"} == {
                k: v for k, v in value.items() if k != "weights_sum"
            } and abs(old["weights_sum"] - value["weights_sum"]) <= 1e-6 * max(1.0, abs(value["weights_sum"]))
        else:
            same = old == value
        if not same:
            raise SettingsError(
                f"{folder} holds an encoding made with {key}={old!r}, not {value!r}. Resume with the "
                "same corpus, model and settings, or encode into a new folder (or delete this one)."
            )


def encode_corpus(
    retriever,
    corpus: str | Path,
    out_dir: str | Path,
    batch_size: int = 64,
    shard_size: int = 100_000,
    commit_rows: int = 8192,
    dtype: str = "float16",
    progress_bar: bool = True,
    callback: Callable[[dict], None] | None = None,
    group: ProcessGroup | None = None,
    wait: bool = True,
) -> EncodedCorpus:
    """Encode every passage of a DPR passages TSV with the retriever's passage encoder into out_dir; resume there.

    `commit_rows` (rounded up to whole batches): how many rows are written between two progress records, which is
    the most work a kill can lose. `dtype` "float16" halves the disk of "float32" (a rounding far below the
    differences retrieval depends on); float32 keeps the encoder's numbers exactly. `callback(info)` is called after
    every batch with the shard ("shard", "start", "stop"), the rows of it "written" and "recorded" so far. Under
    torchrun (or with `group`) each process encodes its own shards; with `wait`, process 0 returns only once every
    shard is recorded. Returns the EncodedCorpus.
    """
    corpus, folder = Path(corpus), Path(out_dir)
    if not corpus.is_file():
        raise FileNotFoundError(f"Passages file not found: {corpus}. Give a DPR passages TSV (id, text, title).")
    if is_gzipped(corpus):
        raise SettingsError(f"{corpus} is gzipped: unpack it first (gunzip), so that encoding can resume at any row.")
    if dtype not in ("float16", "float32"):
        raise SettingsError(f"dtype={dtype!r}; use 'float16' (half the disk) or 'float32'.")
    group = group or current_group()
    commit_rows = max(batch_size, -(-commit_rows // batch_size) * batch_size)
    wanted = {
        "corpus_fingerprint": corpus_fingerprint(corpus),
        "model": model_fingerprint(retriever),
        "similarity": retriever.similarity_function,
        "dtype": dtype,
        "shard_size": shard_size,
        "batch_size": batch_size,
    }
    manifest = {"format": 1, "corpus": str(corpus.resolve()), "dim": wanted["model"]["dim"], **wanted}
    if group.is_main:
        if (folder / MANIFEST).is_file():
            saved = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            _check_manifest(folder, saved, wanted)
            if saved["corpus"] != manifest["corpus"]:  # the same file, moved or copied: read it where it is now
                _write_json(folder / MANIFEST, {**saved, "corpus": manifest["corpus"]})
        else:
            _prepare(folder, corpus, manifest, progress_bar)
    group.barrier()  # the other processes wait for process 0's scan
    encoded = EncodedCorpus(folder)
    if not group.is_main:
        _check_manifest(folder, encoded.manifest, wanted)

    shards = encoded.shard_progress()
    mine = shards[group.rank :: group.world_size]
    already = sum(shard["done"] for shard in mine)
    if already and already < sum(s["stop"] - s["start"] for s in mine) and group.is_main:
        log.info(f"Resuming {folder}: {encoded.rows_done():,} of {encoded.rows:,} passages are already encoded.")
    offsets = np.load(folder / ROW_OFFSETS, mmap_mode="r")
    header_bytes = encoded.embeddings.offset  # where row 0 starts in the .npy file
    row_bytes = encoded.dim * np.dtype(dtype).itemsize
    bar = tqdm(
        total=sum(s["stop"] - s["start"] for s in mine),
        initial=already,
        unit=" passages",
        desc=f"encoding {corpus.name}",
        disable=not (progress_bar and group.is_main),
        smoothing=0.05,
    )
    # Unbuffered: each batch goes to the operating system as it is written, so a killed process leaves its rows
    # in the file (the page cache outlives the process); fsync before each record puts them on the disk itself.
    with open(folder / EMBEDDINGS, "r+b", buffering=0) as out:
        for shard in mine:
            start, stop, recorded = shard["start"], shard["stop"], shard["done"]
            if recorded == stop - start:
                continue
            progress_file = folder / PROGRESS / f"shard-{shard['index']:05d}.json"
            rows = read_passage_rows(corpus, int(offsets[start + recorded]))
            position = start + recorded  # always a batch boundary: the shard's start plus whole batches
            while position < stop:
                count = min(batch_size, stop - position)
                passages = [next(rows)[1] for _ in range(count)]
                documents = [passage_document(p) for p in passages]
                embeddings = retriever.embed_documents(documents, batch_size=count)  # (count, dim) float32
                if dtype == "float16" and np.abs(embeddings).max() > FLOAT16_MAX:
                    raise SettingsError(
                        f"{corpus}, rows {position}-{position + count - 1}: embedding values exceed "
                        f"float16's range ({FLOAT16_MAX:.0f}); encode with dtype='float32'."
                    )
                out.seek(header_bytes + position * row_bytes)
                block = memoryview(np.ascontiguousarray(embeddings, dtype=dtype).tobytes())
                while block:  # an unbuffered write may take less than all (rarely, but then the rest follows)
                    block = block[out.write(block) :]
                position += count
                if position - start - recorded >= commit_rows or position == stop:
                    os.fsync(out.fileno())  # the rows are on disk before the record that counts them
                    recorded = position - start
                    _write_json(progress_file, {"start": start, "stop": stop, "done": recorded})
                bar.update(count)
                if callback is not None:
                    callback(
                        {
                            "shard": shard["index"],
                            "start": start,
                            "stop": stop,
                            "written": position - start,
                            "recorded": recorded,
                        }
                    )
            rows.close()  # the TSV, opened at this shard's start
    bar.close()
    if group.enabled and group.is_main and wait:
        # Polling the progress files rather than a collective: a barrier would time out (10 to 30 minutes) while a
        # slower process finishes its last shard of a 21-million-passage corpus.
        while not encoded.complete:
            time.sleep(2)
    return encoded
