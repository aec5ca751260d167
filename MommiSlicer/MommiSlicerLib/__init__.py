"""MommiSlicerLib: the Slicer-side code of MommiSlicer that needs MRML but no widgets.

Kept apart from ``MommiSlicer.py`` so that it can be imported and tested outside the
Slicer application, against the MRML of the ``slicer-core`` wheel (DESIGN.md: the
module file stays thin). One job per module:

- ``geometry``: original pixel boxes <-> IJK <-> RAS (pure numpy, no MRML);
- ``appearance``: malignancy colours and the heat colour table;
- ``scene_builder``: one study's volumes, probability maps, ROIs and findings table;
- ``roi_sync``: the reader's ROI edits and additions -> ``ReviewSession``;
- ``open_study``: the study under review (nodes, session, ROI sync, store), closed with the scene;
- ``parameters``: the module's state as a parameter node in the scene;
- ``compatibility``: the oldest Slicer and Python the module supports, said on load;
- ``layout``: the 2x2 mammography hanging as a registered Slicer layout;
- ``scene_io``: a complete MRML application context outside Slicer, .mrb save and load;
- ``analysis_job``: the pipeline on a worker thread, polled from the main thread;
- ``dependencies``: which pip requirements to install, and how, inside Slicer.

Nothing here is imported by the engine (``mommi``), and nothing here touches Qt.
"""
