"""A separate writer process for the review store's durability and concurrency tests.

    python Testing/review_writer.py DB READER COUNT

Registers the test study (idempotently, so that several writers may race it),
then appends COUNT events and prints ``written <event id>`` after each append
has returned, flushed at once: a line on stdout is the promise that the event
is on disk, which the tests check after killing this process.
"""

from __future__ import annotations

import sys

from mommi.feedback.store import open_store

STUDY_UID = "1.2.826.0.1.3680043.8.498.42"
PATIENT_KEY = "patient-0042"
FINDINGS = [
    {"id": "f1", "box": [10, 20, 110, 140], "score": 0.91},
    {"id": "f2", "box": [300, 40, 360, 90], "score": 0.37},
]
MODEL_VERSIONS = {"detector": "momminet-v2-test"}


def main(argv: list[str]) -> int:
    db, reader, count = argv[1], argv[2], int(argv[3])
    with open_store(db) as store:
        store.register_study(STUDY_UID, PATIENT_KEY, "results/study-42.json", FINDINGS, MODEL_VERSIONS)
        for seq in range(count):
            event = store.append_event(
                STUDY_UID,
                reader,
                "first_reader",
                "move",
                finding_id="f1",
                before={"box": [10, 20, 110, 140]},
                after={"box": [12 + seq, 20, 110, 140]},
                payload={"seq": seq},
                model_version="momminet-v2-test",
            )
            print(f"written {event.id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
