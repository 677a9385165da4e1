"""PKDN: a parsing-guided teacher distilled into an LR-only student (arXiv 2409.14385)."""
