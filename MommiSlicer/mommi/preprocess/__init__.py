"""Pre-processing shared by training and inference: model input grid, bilateral registration."""
