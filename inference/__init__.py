"""The runtime core: an ONNX Runtime session and a fast tokenizer behind one small API.

Importing this package is cheap and never imports torch, transformers or optimum.
"""
