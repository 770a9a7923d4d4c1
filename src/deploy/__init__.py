"""Deploying a trained run: export folders, prediction and the HTTP service.

``export`` writes a run's checkpoint as one self-contained folder (ONNX or HF format) whose
layout ``folder`` reads back; ``predictors`` predicts from it on onnxruntime without torch;
``torch_predictors`` predicts with PyTorch (HF exports, and a run's checkpoint directly);
``service`` serves an export over HTTP. The entry points are ``python -m src.export``,
``src.onnx_predict``, ``src.predict`` and ``src.serve``.
"""
