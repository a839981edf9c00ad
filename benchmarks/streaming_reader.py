"""Peak memory and speed of dpr_nb's streaming DPR reader against json.load, on a generated file.

    python benchmarks/streaming_reader.py --size-mb 1024

Writes a DPR-format JSON list of about --size-mb, then reads it in a fresh process per reader, so each peak RSS is
that reader's alone; --rounds times (3), every reader once a round, and reports each one's median time. The records
are DPR's own (--records real, the default where ../shared is beside the checkout):
the 20 records of ../shared/data/dpr-samples' NQ and SQuAD dev files, repeated, about 150 contexts each (positives,
50 random negatives, about 100 BM25 hard negatives), 110 KB a record; or invented ones of that shape (--records
synthetic: 1 positive, 50 negatives and 100 hard negatives of 100-word passages).

- dpr_nb streaming: one pass of `read_dpr_file`, every record parsed and validated.
- data stats, data subset, data records: the commands as a user runs them (`dpr_nb.cli.main`, in a process of its
  own, so its peak RSS includes what the command imports: neither torch nor transformers).
- dpr_nb records: the one-time copy of the records to disk (`dpr-nb data records`, TrainConfig.records_on_disk).
- records epoch: one shuffled training epoch's sampling from that copy (BatchSampler, batch 16, 7 hard negatives),
  every question read from disk in random order.
- json.load: the whole list parsed into memory, as Haystack v1 and the original DPR read it.

Targets: the streaming reader under 500 MB peak RSS whatever the size and at least 30 MB/s (issue 3); the data
tools (stats, subset, records) at least 100 MB/s in under 100 MB (issue 32; 60 MB/s in 150 MB before).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DPR_SAMPLES, write_json

WORDS = (
    "the of and in to was is for on as by with he at from his an were are which this also be has or had first "
    "one their its new after who they two her she been other when there all during into school time may years "
    "more most only over city some world would where later up such used many can state about national out "
    "known university united then made"
).split()


def passage(rng: random.Random, index: int) -> dict:
    return {
        "title": f"Article {index}",
        "text": " ".join(rng.choices(WORDS, k=100)),
        "score": rng.random() * 20,
        "title_score": 0,
        "passage_id": str(index),
    }


REAL_FILES = ("nq_dev_first10.jsonl", "squad1_dev_first10.jsonl")


def real_records() -> list[dict]:
    return [json.loads(line) for name in REAL_FILES for line in (DPR_SAMPLES / name).read_text().splitlines()]


def generate(path: Path, size_mb: int, records: str = "real", seed: int = 0) -> int:
    """Write records until the file reaches size_mb; returns the number of records."""
    rng, written, count = random.Random(seed), 0, 0
    real = real_records() if records == "real" else None
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        while written < size_mb * 1024 * 1024:
            record = (
                real[count % len(real)]
                if real
                else {
                    "dataset": "synthetic",
                    "question": " ".join(rng.choices(WORDS, k=9)) + "?",
                    "answers": ["an answer"],
                    "positive_ctxs": [passage(rng, count * 200)],
                    "negative_ctxs": [passage(rng, count * 200 + 1 + i) for i in range(50)],
                    "hard_negative_ctxs": [passage(rng, count * 200 + 60 + i) for i in range(100)],
                }
            )
            text = ("," if count else "") + json.dumps(record)
            f.write(text)
            written += len(text)
            count += 1
        f.write("]")
    return count


def read(reader: str, path: str) -> None:
    """Runs in a child process: read the file, print questions, seconds and peak RSS (MB) as JSON."""
    started = time.perf_counter()
    if reader == "dpr_nb streaming":
        from dpr_nb.data.dpr_file import read_dpr_file

        questions = sum(1 for _ in read_dpr_file(path))
    elif reader.startswith("data "):
        import contextlib
        import io
        import tempfile

        from dpr_nb.cli import main

        out = tempfile.mkdtemp()  # removed once timed: three rounds' copies of a 1 GB file would fill /tmp
        command = {
            "data stats": ["data", "stats", path],
            "data subset": ["data", "subset", path, f"{out}/subset.jsonl", "--n", "1000", "--seed", "0"],
            "data records": ["data", "records", path, "--out", f"{out}/records", "--rebuild"],
        }[reader]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(command) == 0
        loaded = [m for m in ("torch", "transformers") if m in sys.modules]
        assert not loaded, f"{reader} imported {loaded}"
        questions = json.loads(Path(path).with_suffix(".count").read_text())
    elif reader == "dpr_nb records":
        from dpr_nb.data.records_on_disk import DPRFileOnDisk

        questions = len(DPRFileOnDisk.build(path, rebuild=True))
    elif reader == "records epoch":
        from dpr_nb.data.dpr_file import BatchSampler
        from dpr_nb.data.records_on_disk import DPRFileOnDisk

        examples = DPRFileOnDisk.build(path)  # built before the clock (once for all rounds): this times reading
        started = time.perf_counter()
        sampler = BatchSampler(examples, batch_size=16, num_hard_negatives=7, seed=0)
        questions = sum(len(batch) for batch in sampler)
    else:
        with open(path, encoding="utf-8") as f:
            questions = len(json.load(f))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB
    if reader.startswith("data "):
        shutil.rmtree(out)
    print(json.dumps({"questions": questions, "seconds": seconds, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--records",
        choices=("real", "synthetic"),
        default="real" if all((DPR_SAMPLES / name).is_file() for name in REAL_FILES) else "synthetic",
        help="DPR's own records from ../shared, repeated (the default where it is), or invented ones of their shape",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each reader; the median is reported")
    parser.add_argument("--keep", default=None, help="write the generated file here and keep it")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/streaming_reader.json")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(args.keep or Path(folder) / "synthetic-dpr.json")
        records = generate(path, args.size_mb, args.records)
        size_mb = path.stat().st_size / 1024 / 1024
        print(f"{path}: {size_mb:.0f} MB, {records} questions ({args.records} records)\n")
        path.with_suffix(".count").write_text(str(records))  # what the commands must have read
        readers = ("dpr_nb streaming", "data stats", "data subset", "data records", "records epoch", "json.load")
        # Rounds, each reader once per round: this virtual machine's speed drifts by a quarter from minute to minute,
        # so one run can put a reader either side of a target; the median of the rounds is what is reported.
        runs = {reader: [] for reader in readers}
        for _ in range(args.rounds):
            for reader in readers:
                output = subprocess.run(
                    [sys.executable, __file__, "--child", reader, str(path)], check=True, capture_output=True, text=True
                ).stdout
                result = json.loads(output.strip().splitlines()[-1])
                assert result["questions"] == records, (reader, result)
                runs[reader].append(result)
        print(f"{'reader':<20}{'peak RSS (MB)':>15}{'seconds':>10}{'MB/s':>8}{'MB/s range':>14}")
        results = {}
        for reader in readers:
            seconds = sorted(run["seconds"] for run in runs[reader])
            results[reader] = {
                "questions": records,
                "seconds": statistics.median(seconds),
                "seconds_each_round": [run["seconds"] for run in runs[reader]],
                "peak_rss_mb_each_round": [run["peak_rss_mb"] for run in runs[reader]],
                "peak_rss_mb": max(run["peak_rss_mb"] for run in runs[reader]),
            }
            speed = f"{size_mb / seconds[-1]:.0f}-{size_mb / seconds[0]:.0f}"
            print(
                f"{reader:<20}{results[reader]['peak_rss_mb']:>15.0f}{results[reader]['seconds']:>10.1f}"
                f"{size_mb / results[reader]['seconds']:>8.1f}{speed:>14}"
            )
    reader_met = (
        results["dpr_nb streaming"]["peak_rss_mb"] < 500 and size_mb / results["dpr_nb streaming"]["seconds"] >= 30
    )
    tools_met = all(
        results[r]["peak_rss_mb"] < 100 and size_mb / results[r]["seconds"] >= 100
        for r in ("data stats", "data subset", "data records")
    )
    target_met = reader_met and tools_met
    print(
        "\ntarget: the streaming reader under 500 MB peak RSS and at least 30 MB/s: "
        + ("met" if reader_met else "NOT met")
    )
    print(
        f"target: data stats, subset and records at least 100 MB/s in under 100 MB: {'met' if tools_met else 'NOT met'}"
    )
    write_json(
        "streaming_reader",
        {
            "file_mb": size_mb,
            "records": args.records,
            "questions": records,
            "rounds": args.rounds,
            "target_met": target_met,
            "results": results,
        },
        args.json,
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        read(sys.argv[2], sys.argv[3])
    else:
        main()
