"""Radiologists' review decisions: an append-only event store beside the model's findings."""
