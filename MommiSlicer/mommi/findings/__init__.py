"""Findings: from probability maps to regions with scores, boxes and contours."""
