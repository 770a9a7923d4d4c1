"""Deploying a trained run: export folders, prediction on every backend, the HTTP service.

``export`` writes a run's checkpoint as one self-contained folder (ONNX or HF format) whose
layout ``folder`` reads back; ``predictors`` turns texts into the predictions of
``src.tasks.formats`` (one JSON schema for every task and tool) and runs ONNX on onnxruntime
without torch; ``torch_predictors`` runs PyTorch in fp32 or bf16 (HF exports, and a run's
checkpoint directly); ``backends`` names the backends and picks one for ``backend=auto``;
``references`` opens an export folder or a run with one of them (``load_predictor``);
``service`` serves it over HTTP, and ``limits`` bounds what its clients can hold (time,
connections, bytes) and checks its optional token. The entry points are ``python -m src.export``,
``src.onnx_predict``, ``src.predict`` and ``src.serve`` (docs/serving.md).
"""
