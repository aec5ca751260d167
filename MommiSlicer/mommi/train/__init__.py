"""Training code (PyTorch). The only engine package allowed to import torch."""
