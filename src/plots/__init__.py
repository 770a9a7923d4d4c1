"""Diagnostic plots of a run, drawn with matplotlib's object API (Agg canvas, no pyplot state)."""
