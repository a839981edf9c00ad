"""What the benchmark scripts share: paths to ../shared, the machine's name, memory readings, data, tables, JSON.

Each script runs its measurements in fresh child processes (`run_child`), so every peak memory is one
configuration's alone, and prints a table (`print_table`) and writes its JSON (`write_json`) to benchmarks/results/.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"
XQUAD = SHARED / "data" / "xquad"
DPR_SAMPLES = SHARED / "data" / "dpr-samples"
RESULTS = ROOT / "benchmarks" / "results"

sys.path.insert(0, str(ROOT))  # the checkout's dpr_nb, when a script runs from benchmarks/


def rss_mb() -> float:
    """The resident set size of this process now (MB)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical cores)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def mmap_malloc_env() -> dict:
    """The environment for a child whose peak RSS should follow what torch holds.

    glibc raises its mmap threshold to the largest block freed so far (up to 32 MB), after which activations of that
    size come from its heap and stay in the RSS once freed; a fixed threshold returns every block over 128 KB to
    the kernel when torch frees it. Fixing it also turns off the raising; trimming returns freed heap tops.
    """
    return {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def run_child(script: str, settings: dict, env: dict | None = None) -> dict:
    """Run `script --child SETTINGS_JSON` in a fresh process; the JSON object its last line prints."""
    completed = subprocess.run(
        [sys.executable, script, "--child", json.dumps(settings)], env=env, capture_output=True, text=True
    )
    if completed.returncode:
        sys.stderr.write(completed.stderr[-5000:])
        raise SystemExit(f"{Path(script).name} {settings}: the child process failed (exit {completed.returncode})")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def xquad_dpr(
    language: str, folder: Path, test_fraction: float = 0.0, num_hard_negatives: int = 1, seed: int = 0
) -> tuple[Path, dict]:
    """XQuAD `language` as DPR files in `folder` (dpr_nb.tools.squad.convert_squad: paragraphs as passages, the split by
    article, BM25 hard negatives without the answer); (folder, counts). The same seed splits every language alike:
    XQuAD's languages are translations of the same 48 articles."""
    from dpr_nb.tools.squad import convert_squad

    source = XQUAD / f"xquad.{language}.json"
    if not source.is_file():
        raise SystemExit(f"{source} is absent: the benchmarks need ../shared/data/xquad beside the checkout.")
    counts = convert_squad(
        source, folder, dev_fraction=0.0, test_fraction=test_fraction, num_hard_negatives=num_hard_negatives, seed=seed
    )
    return folder, counts


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Print (and return) a Markdown table of `rows`; columns are (key, header, format spec), "" for text."""
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "|" + "|".join("---" if not spec else "---:" for _, _, spec in columns) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            text = isinstance(value, str) or not spec  # a cell may come formatted already
            cells.append("-" if value is None else str(value) if text else format(value, spec))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    return table


def write_json(name: str, summary: dict, path: str | None = None) -> Path:
    """Write `summary` to `path` (default benchmarks/results/NAME.json), atomically."""
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    print(f"\nwrote {target}")
    return target


def comparable_config(model: str, max_seq_len_query: int, max_seq_len_passage: int, **settings):
    """dpr_nb's side of a comparison with sentence-transformers' MultipleNegativesRankingLoss: the same model for
    both roles, DPR's two encoders, batch 16, 1 hard negative, cosine scaled by 20 (temperature 0.05), AdamW at 2e-5
    without warm-up, no evaluation, nothing saved. `settings` change any of it."""
    from dpr_nb import TrainConfig

    values = dict(
        query_model=model,
        passage_model=model,
        batch_size=16,
        n_epochs=1,
        max_seq_len_query=max_seq_len_query,
        max_seq_len_passage=max_seq_len_passage,
        num_hard_negatives=1,
        share_encoders=False,  # DPR's two, said here: the default would share this checkpoint
        similarity_function="cosine",
        temperature=0.05,
        learning_rate=2e-5,
        num_warmup_steps=0,
        evaluate_every=0,
        save_dir=None,
    )
    return TrainConfig(**{**values, **settings})
