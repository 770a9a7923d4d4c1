"""textlab's Hydra sweepers: finishing an interrupted grid sweep (``hydra/sweeper=resume``) and
an Optuna search whose study lives in a journal file (``hparams_search=optuna``).

Hydra only loads sweepers from the ``hydra_plugins`` namespace, so they live here, outside
``src``; the folder above has no ``__init__.py`` so that installed Hydra plugins stay visible.
Both import the project and Optuna only when they run: Hydra imports every plugin at start-up.
"""
