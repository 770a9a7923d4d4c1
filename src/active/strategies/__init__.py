"""Query strategies: each scores the unlabelled pool and picks the top ``k`` rows."""

from src.active.strategies.base import PoolView, Strategy

__all__ = ["PoolView", "Strategy"]
