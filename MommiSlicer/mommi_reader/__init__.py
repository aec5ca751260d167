"""MommiSlicer Reader: the stand-alone PyQt5 reading application.

It shows a four-view study in mammography hanging order with the analysis
overlaid and lets a radiologist review every finding from the keyboard. It is a
front end only: the analysis is ``mommi.runtime`` run in a worker thread, and
every review action goes through ``mommi.review.session.ReviewSession``, which
writes it to the review store before returning (so the reader holds no review
state of its own and a crash loses nothing that was shown as done).

Start it with ``mommi reader [STUDY_OR_FOLDER]`` or ``python -m mommi_reader``.
"""

from __future__ import annotations

APP_ORGANISATION = "MommiSlicer"
APP_NAME = "Reader"
