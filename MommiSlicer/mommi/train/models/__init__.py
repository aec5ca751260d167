"""Network definitions of MommiNet-v2 (training side; exported to ONNX for the runtime)."""
