"""`python -m src.predict ckpt_path=latest text="..."`: predictions for every task, one JSON
line per text (the schema of ``src.tasks.formats``, the same as ``src.serve``).

``ckpt_path``: ``latest``, ``latest:<task_name>``, a run folder or a checkpoint; or
``export_dir``: an export folder, or a run whose ``export/`` folders offer the backends (ONNX
runs without torch). Texts: ``text=``, ``input_file=`` (one per line; ``-`` is stdin), or piped
to stdin. ``context_lines=N``: a tagger trained with context reads the N lines before each text.
"""

import hydra
from omegaconf import DictConfig

from src.deploy.cli import predict_command
from src.errors import report_user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        message = predict_command(cfg)
    print(message, flush=True)


if __name__ == "__main__":
    main()
