"""MommiSlicer: the 3D Slicer module (thin: all the work is in the `mommi` engine).

This first version checks a study folder and shows what the engine found (views,
geometry, warnings, per-file errors). Analysis, overlays and review come with the
pipeline and the module issues. Research use only, not for clinical use.
"""

from __future__ import annotations

import os

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


class MommiSlicer(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MommiSlicer"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["MommiSlicer developers"]
        self.parent.helpText = (
            "Multi-view mammography mass detection (MommiNet-v2). Choose a folder with a "
            "four-view study (DICOM, or PNG/PGM with JSON sidecars) and press Inspect to see "
            "the views found and any problem with the files. RESEARCH USE ONLY: the models "
            "are research models and must not be used for diagnosis."
        )
        self.parent.acknowledgementText = (
            "Implements the method of Z. Yang, Z. Cao et al., 'MommiNet-v2: Mammographic "
            "Multi-View Mass Identification Networks', Medical Image Analysis 2021 "
            "(doi:10.1016/j.media.2021.102204)."
        )


class MommiSlicerLogic(ScriptedLoadableModuleLogic):
    """Importable without widgets; the engine is imported on use so that a missing
    dependency shows as a message, not as a module that fails to load."""

    def inspect(self, folder: str) -> dict:
        from mommi.study import load_studies
        from mommi.study.report import inspection_report

        return inspection_report(load_studies([folder], keep_pixels=False))


class MommiSlicerWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = MommiSlicerLogic()
        form = qt.QFormLayout()
        self.layout.addLayout(form)
        self.folderEdit = ctk.ctkPathLineEdit()
        self.folderEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.folderEdit.settingKey = "MommiSlicer/StudyFolder"
        self.folderEdit.toolTip = "Folder with a four-view study (DICOM, or PNG/PGM with sidecars)"
        form.addRow("Study folder:", self.folderEdit)
        self.inspectButton = qt.QPushButton("Inspect")
        self.inspectButton.toolTip = "Find the studies in the folder and check every file"
        self.inspectButton.connect("clicked()", self._inspect)
        form.addRow(self.inspectButton)
        self.report = qt.QPlainTextEdit()
        self.report.setReadOnly(True)
        self.layout.addWidget(self.report)
        self.layout.addStretch(1)

    def _inspect(self):
        folder = self.folderEdit.currentPath
        if not folder or not os.path.isdir(folder):
            slicer.util.errorDisplay("Choose an existing folder first.")
            return
        try:
            from mommi.study.report import render_inspection

            with slicer.util.tryWithErrorDisplay("Inspection failed.", waitCursor=True):
                self.report.setPlainText(render_inspection(self.logic.inspect(folder)))
        except ImportError as exc:
            slicer.util.errorDisplay(f"A MommiSlicer dependency is missing: {exc}")


class MommiSlicerTest(ScriptedLoadableModuleTest):
    def runTest(self):
        self.setUp()
        self.test_empty_folder_has_no_study()

    def test_empty_folder_has_no_study(self):
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            report = MommiSlicerLogic().inspect(folder)
        self.assertEqual(report["counts"]["studies"], 0)
        self.assertEqual(report["errors"][0]["code"], "no_study")
        self.delayDisplay("MommiSlicer: empty folder reported correctly")
