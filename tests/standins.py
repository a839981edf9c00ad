"""Small local stand-ins for the real artifacts, in their real formats, so tests never need the network.

- `save_dpr_checkpoint(folder, role)`: a tiny model saved as Facebook's DPR checkpoints are (`DPRConfig` with
  `projection_dim` 0, `DPRQuestionEncoder` / `DPRContextEncoder` weights, a BERT tokenizer).
- `save_bert_checkpoint(folder)`: a tiny `BertModel` with its pooler, as `bert-base-uncased` is.
- `hub_cache(root)`: a Hugging Face cache (`HF_HOME=root`) holding those three under their hub names, laid out as a
  download leaves it, so `from_pretrained("facebook/dpr-question_encoder-single-nq-base")` resolves with
  `HF_HUB_OFFLINE=1` as on Colab after the download.
- `data_mirror(folder)`: DPR's files under their real names and formats (gzipped JSON lists, a quoted passages
  TSV), made from ../shared's samples, to serve with `serve(folder)` as `DPR_NB_DATA_MIRROR`.
"""

from __future__ import annotations

import csv
import functools
import gzip
import http.server
import json
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, DPRConfig, DPRContextEncoder, DPRQuestionEncoder

from dpr_nb.model.encoders import tiny_encoder

QUESTION_MODEL = "facebook/dpr-question_encoder-single-nq-base"
CONTEXT_MODEL = "facebook/dpr-ctx_encoder-single-nq-base"
BERT_MODEL = "bert-base-uncased"
# A fixed revision: what `refs/main` holds in a real cache is the commit a download resolved.
REVISION = "0123456789abcdef0123456789abcdef01234567"
_SIZES = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=512,
    pad_token_id=0,
)


def _tokenizer():
    return tiny_encoder().tokenizer  # a BERT WordPiece tokenizer whose vocabulary covers the built-in dataset


def save_dpr_checkpoint(folder: str | Path, role: str, seed: int = 0) -> Path:
    """A tiny DPR checkpoint in Facebook's format; role "question" or "context"."""
    tokenizer = _tokenizer()
    model_class = DPRQuestionEncoder if role == "question" else DPRContextEncoder
    config = DPRConfig(vocab_size=tokenizer.vocab_size, projection_dim=0, **_SIZES)
    config.architectures = [model_class.__name__]
    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def save_bert_checkpoint(folder: str | Path, seed: int = 0) -> Path:
    """A tiny bert-base-uncased: a BertModel with its pooler layer, as the real one is saved."""
    tokenizer = _tokenizer()
    config = BertConfig(vocab_size=tokenizer.vocab_size, **_SIZES)
    config.architectures = ["BertForMaskedLM"]
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


# Files a download looks for and does not find: the hub cache records each absence under .no_exist/, and offline
# loading then knows the file does not exist (instead of not knowing whether it does).
_ABSENT = (
    "modules.json",
    "dpr_nb_encoder.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "added_tokens.json",
    "chat_template.jinja",
    "processor_config.json",
    "preprocessor_config.json",
    "model.safetensors.index.json",
    "adapter_config.json",
    "custom_generate/generate.py",
    "tokenizer.json",
    "special_tokens_map.json",
)


def hub_cache(root: str | Path, copies: dict[str, Path] | None = None, datasets: dict[str, Path] | None = None) -> Path:
    """A Hugging Face cache under `root` (use as HF_HOME) with the stand-ins under their hub names, `copies`
    (hub name -> a model folder) copied in under theirs, and `datasets` (hub name -> a folder of the dataset
    repository's files) as dataset repositories."""
    hub = Path(root) / "hub"
    for name, folder in (datasets or {}).items():
        repo = hub / f"datasets--{name.replace('/', '--')}"
        shutil.copytree(folder, repo / "snapshots" / REVISION)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(REVISION)
    makers = {
        QUESTION_MODEL: functools.partial(save_dpr_checkpoint, role="question", seed=1),
        CONTEXT_MODEL: functools.partial(save_dpr_checkpoint, role="context", seed=2),
        BERT_MODEL: functools.partial(save_bert_checkpoint, seed=3),
    }
    for name, folder in (copies or {}).items():
        makers[name] = functools.partial(shutil.copytree, folder)
    for name, make in makers.items():
        repo = hub / f"models--{name.replace('/', '--')}"
        snapshot = repo / "snapshots" / REVISION
        make(snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(REVISION)
        absent = repo / ".no_exist" / REVISION
        for filename in _ABSENT:
            if not (snapshot / filename).exists():
                (absent / filename).parent.mkdir(parents=True, exist_ok=True)
                (absent / filename).touch()
    return Path(root)


def data_mirror(folder: str | Path, samples: Path) -> Path:
    """DPR's files, real names and formats, from ../shared's DPR samples: biencoder-nq-{train,dev}.json.gz and a
    psgs_w100.tsv.gz written as DPR writes it (csv quoting: a text holding `"` is quoted, its quotes doubled)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    real = [json.loads(line) for line in (samples / "nq_dev_first10.jsonl").read_text("utf-8").splitlines()]
    real += json.loads((samples / "haystack_nq_dev_sample5.json").read_text("utf-8"))
    # The notebooks hold out questions and compare batch sizes: 15 real questions are too few, so the files also
    # hold reworded copies of them (their gold passages, and fewer negatives to keep the files small).
    copies = [
        {
            **r,
            "question": f"{r['question']} ({n})",
            "hard_negative_ctxs": r["hard_negative_ctxs"][:8],
            "negative_ctxs": r["negative_ctxs"][:4],
        }
        for n in range(1, 4)
        for r in real
    ]
    records = real + copies  # 60 questions
    for name, part in (("biencoder-nq-train.json.gz", records), ("biencoder-nq-dev.json.gz", records)):
        with gzip.open(folder / name, "wt", encoding="utf-8") as f:
            json.dump(part, f)
    passages = {}
    for record in records:
        for ctx in (*record["positive_ctxs"], *record.get("negative_ctxs", []), *record["hard_negative_ctxs"]):
            passages.setdefault(str(ctx["passage_id"]), (ctx["text"], ctx["title"]))
    passages["1"] = ('Aaron Aaron ( or ; ""Ahärôn"") is a prophet, high priest'.replace('""', '"'), "Aaron")
    xquad = samples.parent / "xquad" / "xquad.en.json"
    if xquad.is_file():
        shutil.copy(xquad, folder / xquad.name)
    with gzip.open(folder / "psgs_w100.tsv.gz", "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text", "title"])
        writer.writerows([pid, text, title] for pid, (text, title) in passages.items())
    return folder


@contextmanager
def serve(folder: str | Path):
    """Serve `folder` over HTTP on localhost (with Range requests, as a real web host); yields the base URL."""
    handler = functools.partial(_RangeHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus `Range: bytes=N-`, which resumable downloads ask for."""

    def log_message(self, *args):  # quiet
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range", "")
        if not header.startswith("bytes=") or not path.is_file():
            return super().send_head()
        start = int(header[len("bytes=") :].split("-")[0])
        size = path.stat().st_size
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        f = open(path, "rb")  # SimpleHTTPRequestHandler copies it to the socket, then closes it
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return f
