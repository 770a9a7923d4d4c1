"""Refuse a model that cannot serve the data set's task, before anything is built."""

from __future__ import annotations

from omegaconf import DictConfig

from src.utils.errors import TextlabError

TOKEN_MODEL_SUFFIX = ".TokenTagger"


def check_model_fits_data(cfg: DictConfig) -> None:
    """``model=token_tagger`` needs a token data set; the poolers need a sequence data set."""
    task = cfg.data.get("task", "multilabel")
    tagger = str(cfg.model.get("_target_", "")).endswith(TOKEN_MODEL_SUFFIX)
    if tagger and task != "token":
        raise TextlabError(
            f"model=token_tagger tags words, but data={cfg.data.get('_target_')} is a {task} "
            "data set; use model=cls_pooler or model=avg_pooler, or a token data set "
            "(data=wnut17, data=vua_metaphor)"
        )
    if not tagger and task == "token":
        raise TextlabError(
            "this data set labels words (task token); use model=token_tagger with it"
        )
