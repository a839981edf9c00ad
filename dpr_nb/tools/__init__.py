"""Tools for data: downloads, SQuAD conversion, hard-negative mining, stats and subsets.

- download.py     DPR's files and fetch_archive_from_http, resumable downloads
- squad.py        SQuAD/XQuAD files as DPR files with BM25 hard negatives (`dpr-nb data convert-squad`)
- mining.py       hard negatives mined with a trained model (`dpr-nb data mine`)
- data_tools.py   `dpr-nb data stats` and `dpr-nb data subset`
"""
