"""Evaluation as a library: predicting a split, scoring it, decision thresholds
(``thresholds.json``), calibration and the diagnostic plots. Training wires it through thin
callbacks (``src.callbacks``); ``src.eval``, active learning, the comparison report, export and
serving import it directly. Importing this package loads nothing heavy."""
