"""Training data: the synthetic 3D phantom, dataset importers and the training manifest."""
