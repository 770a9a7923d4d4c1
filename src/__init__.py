"""textlab: fine-tune transformer text classifiers with Hydra, PyTorch Lightning and Aim.

Process-wide defaults are set here, once, before any entry point imports a tokenizer: the
Rust tokenizers' own thread pool would otherwise fight the DataLoader workers (and warn about
it after every fork).
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
