"""Feedback export: what leaves the site when readers send cases back for training.

``mommi.feedback.deid`` de-identifies the exported images following DICOM PS3.15's
Basic Application Level Confidentiality Profile (UIDs remapped consistently within a
batch; burned-in annotation flagged for review, pixels never altered).
"""
