"""Export a trained run into one self-contained folder (ONNX or Hugging Face format).

``python -m src.export ckpt_path=... format=onnx|hf`` (see ``__main__.py``); the folder layout
is read back by ``src.inference.export_folder``.
"""
