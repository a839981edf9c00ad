"""How good a model is, on a model alone (no trainer needed): the in-batch report, corpus metrics, inspection, plots.

- report.py       Haystack v1's in-batch evaluation report, and what it measures
- corpus_eval.py  retrieval from a whole corpus: top-k accuracy (by id or by answer), MRR@k, recall@k, and BM25
- trec.py         nDCG, MAP and precision@k through ir_measures (trec_eval's measures); TREC run files
- paired.py       two settings compared question by question: the difference and its paired bootstrap interval
- inspection.py   one question's top passages, the worst questions, two models side by side
- plots.py        matplotlib figures of training, reports, ranks, top-k curves, one batch's similarities
"""
