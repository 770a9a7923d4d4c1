"""Pool-based active learning, simulated on a labelled training split (``python -m src.active``)
and reported as learning curves (``python -m src.active_report``)."""
