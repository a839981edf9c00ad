"""Searching a corpus with a trained model: document stores, FAISS indexes, corpus encoding.

- document_store.py   InMemoryDocumentStore, Haystack v1's
- corpus_encoding.py  a passages TSV of any size encoded to disk: sharded, resumable, under torchrun
- faiss_store.py      FAISSDocumentStore: the same interface over a flat, HNSW or IVF-PQ index (faiss optional)
"""
