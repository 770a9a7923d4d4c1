"""Inference over an exported model folder (see ``src.export``).

Everything here except ``torch_predictor`` runs on onnxruntime, numpy and the ``tokenizers``
library only, so a served or scripted ONNX model never imports torch.
"""
