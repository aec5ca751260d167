"""Evaluation: FROC with patient-level bootstrap confidence intervals, nipple error."""
