"""The model: encoders and their formats, texts to vectors, the loss, gradient caching.

- encoders.py          query and passage encoders (CLS or declared pooling), loading and saving
- st_format.py         sentence-transformers' files beside a saved encoder
- haystack_folders.py  Haystack v1 retriever folders, read (by encoders.py)
- embedding.py         TextEmbedder: questions and passages to vectors, for every tool that embeds
- loss.py              the in-batch negatives loss
- grad_cache.py        gradient caching: a large batch's exact gradient in one chunk's memory
- interop.py           export: sentence-transformers models out, two or one (with a Router)
"""
