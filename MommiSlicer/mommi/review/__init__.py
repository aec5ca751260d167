"""The review presenter: ReviewSession, the one way both front ends change review state (no GUI toolkit)."""
