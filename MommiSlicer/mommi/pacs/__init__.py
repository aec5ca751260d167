"""Studies from a PACS and results back to it, over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with
dicomweb-client; no hand-written HTTP. Credentials come from the environment or the settings file, never
from the command line."""
