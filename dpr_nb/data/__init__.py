"""The questions and passages: DPR files read and checked, turned into batches, split, matched by words.

- dpr_file.py         read (streaming) and validate DPR files; sample questions into batches (no torch)
- hub_files.py        hf://datasets/OWNER/NAME/FILE: a Hub dataset's file, through the Hugging Face cache
- beir.py             BEIR folders (corpus.jsonl, queries.jsonl, qrels/*.tsv) as DPR questions, graded
- batches.py          a batch as tensors: tokenised questions and passages, which passage answers which question
- passages.py         DPR's passages TSV, read and written as DPR does (csv quoting)
- records_on_disk.py  a DPR file's records copied to disk once, read by position (flat memory for NQ)
- builtin_data.py     a small DPR dataset the package generates itself (no downloads)
- splits.py           a run's train / dev / test questions (held-out dev split, max_samples, on disk or not)
- matching.py         words, not vectors: DPR's has_answer, tokens for BM25, shared content words
- documents.py        Document, Haystack's unit of retrieval, and the one conversion from a DPR passage to it
"""


def __getattr__(name: str):
    # Before 0.3, dpr_nb.data was the module now at dpr_nb.data.dpr_file: its names still answer here, with a warning.
    from ..core.old_names import moved_attribute

    return moved_attribute(__name__, name)
