import json

import pytest

from conftest import DPR_SAMPLES, need
from dpr_nb.cli import main as cli_main
from dpr_nb.data.dpr_file import load_dpr_file
from dpr_nb.tools.data_tools import file_stats, write_subset


def raw(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_stats_count_distinct_passages_like_a_hand_count():
    path = need(DPR_SAMPLES / "nq_dev_first10.jsonl")
    records = raw(path)
    stats = file_stats(path)
    assert stats["questions"] == 10
    assert stats["positives"] == sum(len({c["passage_id"] for c in r["positive_ctxs"]}) for r in records)
    assert stats["negatives"] == 500
    positive_ids = [{c["passage_id"] for c in r["positive_ctxs"]} for r in records]
    assert stats["hard_negatives"] == sum(
        len({c["passage_id"] for c in r["hard_negative_ctxs"]} - ids) for r, ids in zip(records, positive_ids)
    )
    question_lengths = sorted(len(r["question"].split()) for r in records)
    assert stats["question_words"]["p100"] == question_lengths[-1]
    assert stats["question_words"]["p50"] == question_lengths[(10 - 1) * 50 // 100]


def test_stats_command_fails_on_a_bad_record_with_the_training_message(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"question": "q?", "positive_ctxs": []}) + "\n")
    assert cli_main(["data", "stats", str(path)]) == 1
    assert "record 1 (line 1): field 'positive_ctxs' is empty" in capsys.readouterr().err


def test_reading_stops_at_max_samples_without_parsing_the_rest(tmp_path):
    # A JSON list whose tail is broken: a reader that parses the whole file first would fail.
    record = {"question": "q?", "positive_ctxs": [{"title": "t", "text": "a passage"}]}
    path = tmp_path / "big.json"
    path.write_text("[" + ",".join([json.dumps(record)] * 3) + ", {broken")
    assert len(load_dpr_file(path, max_samples=3)) == 3


@pytest.mark.parametrize("name", ["subset.json", "subset.jsonl", "subset.json.gz", "subset.jsonl.gz"])
def test_subset_first_n_in_every_format(tmp_path, name):
    source = need(DPR_SAMPLES / "squad1_dev_first10.jsonl")
    assert write_subset(source, tmp_path / name, n=4) == 4
    if name.endswith(".gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    assert [e.question for e in load_dpr_file(tmp_path / name)] == [r["question"] for r in raw(source)[:4]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_seeded_random_subset_is_reproducible_and_keeps_file_order(tmp_path):
    source = need(DPR_SAMPLES / "nq_dev_first10.jsonl")
    order = [r["question"] for r in raw(source)]
    picks = []
    for seed in (1, 1, 2):
        write_subset(source, tmp_path / "s.jsonl", n=4, seed=seed)
        questions = [e.question for e in load_dpr_file(tmp_path / "s.jsonl")]
        assert len(questions) == 4 and questions == sorted(questions, key=order.index)
        picks.append(questions)
    assert picks[0] == picks[1] and picks[0] != picks[2]


def test_subset_command(tmp_path, capsys):
    source = need(DPR_SAMPLES / "haystack_nq_dev_sample5.json")
    assert cli_main(["data", "subset", str(source), str(tmp_path / "two.json"), "--n", "2"]) == 0
    assert "wrote 2 questions" in capsys.readouterr().out
    assert json.loads((tmp_path / "two.json").read_text()) == json.loads(source.read_text())[:2]


def test_data_tools_and_help_do_not_load_the_model_stack(tmp_path):
    """`dpr-nb data stats/subset/records/convert-squad` and `--help` import neither torch nor transformers: the
    import alone was 363 MB of the 364 MB the streaming reader peaked at, and 4 s before the first line."""
    import subprocess
    import sys

    from dpr_nb.data.builtin_data import write_builtin_dataset

    train = write_builtin_dataset(tmp_path / "builtin")["train"]
    article = lambda a: {  # noqa: E731
        "title": f"T{a}",
        "paragraphs": [
            {
                "context": f"Paragraph {a} {p} is about the river Osk{a}{p}.",
                "qas": [
                    {
                        "id": f"{a}-{p}",
                        "question": f"which river {a} {p}?",
                        "answers": [{"text": f"Osk{a}{p}", "answer_start": 32}],
                    }
                ],
            }
            for p in range(2)
        ],
    }
    (tmp_path / "squad.json").write_text(json.dumps({"version": "v2.0", "data": [article(a) for a in range(6)]}))
    commands = [
        ["--help"],
        ["data", "stats", str(train)],
        ["data", "subset", str(train), str(tmp_path / "subset.jsonl"), "--n", "5"],
        ["data", "records", str(train), "--out", str(tmp_path / "records")],
        ["data", "convert-squad", str(tmp_path / "squad.json"), str(tmp_path / "converted")],
    ]
    for command in commands:
        code = (
            "import sys\nfrom dpr_nb.cli import main\n"
            f"try:\n    code = main({command!r})\nexcept SystemExit as e:\n    code = e.code\n"
            "print('LOADED', code, sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.stdout.splitlines()[-1] == "LOADED 0 []", (command, result.stdout[-500:], result.stderr[-500:])


MESSAGES = """
import sys
sys.path.insert(0, {root!r})
from dpr_nb.tools.download import fetch_archive_from_http
url = "https://example.org/biencoder-nq-dev.json.gz"
fetch_archive_from_http(url, {folder!r})  # the file is there: nothing to download, which it says at INFO
print("--- shown")
from dpr_nb.core.messages import show_messages
show_messages()
fetch_archive_from_http(url, {folder!r})
"""


def test_library_messages_are_quiet_in_a_script_and_shown_once_asked(tmp_path):
    """Library modules log instead of printing: a script sees nothing until it (or the command line, or a notebook's
    course_mode) asks for the package's messages. A fresh interpreter, so that no earlier test has asked."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "biencoder-nq-dev.json").write_text("[]")
    code = MESSAGES.format(root=str(Path(__file__).resolve().parents[1]), folder=str(tmp_path))
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    before, after = printed.stdout.split("--- shown\n")
    assert before == "" and printed.stderr == ""
    assert after.startswith(f"Found {tmp_path / 'biencoder-nq-dev.json'} already. Skipping the download")


def test_word_count_is_the_number_of_words_split_finds():
    """The fast count (spaces between ASCII words) against str.split on texts made of every kind of whitespace."""
    import random
    import sys

    from dpr_nb.tools.data_tools import word_count

    rng = random.Random(0)
    every_space = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]  # 29, the space among them
    words = ["a", "word", "x1", "naïve", "東京", "—", "🙂", "\u0301"]
    texts = ["".join(rng.choices(words + every_space, k=rng.randint(1, 12))) for _ in range(5000)]
    # Words and single spaces, with now and then one other whitespace character: half of them ASCII, the fast path's.
    for number in range(5000):
        text = " ".join(rng.choices(words[:3] if number % 2 else words, k=rng.randint(1, 12)))
        if rng.random() < 0.5:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(every_space) + text[at:]
        texts.append(text)
    texts = [text for text in texts if text.strip()] + ["one two three", "a", "x y"]
    assert [word_count(text) for text in texts] == [len(text.split()) for text in texts]
