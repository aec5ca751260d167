"""The MommiNet-v2 detection chain at inference (ONNX Runtime, no torch)."""
