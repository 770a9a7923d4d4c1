"""textlab: fine-tune transformer text classifiers with Hydra, PyTorch Lightning and Aim.

Process-wide defaults are set here, once, before any entry point imports a tokenizer or Hydra
composes its config:

- the Rust tokenizers' own thread pool would otherwise fight the DataLoader workers (and warn
  about it after every fork);
- ``${run_id:}``, the OmegaConf resolver the run and sweep folders end with
  (``conf/hydra/default.yaml``): the process id and a few random hex digits, fixed for the life
  of the process, so two runs started in the same second never share a folder, while every
  resolution within one process (Lightning pins DDP ranks to rank 0's folder) gives the same.
"""

import logging
import os
import secrets
import warnings

from omegaconf import OmegaConf

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: this process's part of its run folder names: ``<pid>-<6 hex digits>``
RUN_ID = f"{os.getpid()}-{secrets.token_hex(3)}"

if not OmegaConf.has_resolver("run_id"):
    OmegaConf.register_new_resolver("run_id", lambda: RUN_ID, use_cache=True)


# -- third-party console noise, silenced once for every entry point --------------------------
# Aim's per-run reporter INFO lines (object addresses), Lightning's LitLogger advertisement and
# torch's LeafSpec deprecation raised inside Lightning (nothing to act on here). Lightning's
# "GPU available" lines and every other warning stay.
def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


logging.getLogger("aim.sdk.reporter").setLevel(logging.WARNING)
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_not_an_advert)
warnings.filterwarnings(
    "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
)
