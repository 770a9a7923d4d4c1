"""Pool-based deep active learning for multi-label text (`python -m src.active`)."""
