"""MommiSlicer engine: multi-view mammography mass detection (MommiNet-v2).

The engine imports neither Qt nor slicer, and torch only inside ``mommi.train``,
so that the runtime installs and runs on a reading workstation without them.
Research software: not for clinical use.
"""

__version__ = "0.1.0"
