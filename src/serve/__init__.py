"""The HTTP prediction service: ``create_app`` (FastAPI) and ``python -m src.serve``."""
