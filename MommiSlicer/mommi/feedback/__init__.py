"""Readers' decisions: the append-only review store, the state derived from it, and export batches.

``store`` keeps every review event (SQLite; portable SQL); ``state`` replays them over
the model's findings; ``export`` writes de-identified batches (``deid``: DICOM PS3.15's
Basic Application Level Confidentiality Profile) that the training code reads back.
"""
