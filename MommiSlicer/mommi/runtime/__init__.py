"""Inference runtime on ONNX Runtime (CPU or GPU); never imports torch."""
