"""`mommi info`: is this installation able to run, and on what."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mommi.cli import exit_codes
from mommi.info import collect_info


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info",
        help="versions, ONNX Runtime flavour, working execution providers, model zoo status",
        description="Report package and dependency versions, which ONNX Runtime is installed, "
        "which execution providers a session can really get on this machine, and whether the "
        "model zoo files match their manifest and their model cards state the same SHA-256 and metrics.",
        epilog="exit codes: 0 ready; 1 a problem was found (listed under 'problems')",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--zoo",
        type=Path,
        default=None,
        metavar="DIR",
        help="zoo folder or manifest to check (default: MOMMI_MODEL_ZOO or the checkout's)",
    )
    parser.set_defaults(handler=run)


def _render(info: dict[str, Any]) -> str:
    lines = [f"MommiSlicer {info['mommislicer']}  (Python {info['python']}, {info['platform']})", ""]
    lines.append("Dependencies:")
    for name, version in info["dependencies"].items():
        lines.append(f"  {name:<24} {version or '-'}")
    ort = info["onnxruntime"]
    lines += ["", f"ONNX Runtime flavour: {ort['flavour'] or 'none'}"]
    lines.append("Execution providers (a real session was created on each):")
    for probe in info["execution_providers"]:
        mark = "yes" if probe["works"] else "no "
        lines.append(f"  {mark} {probe['provider']:<28} {probe['detail']}")
    if not info["execution_providers"]:
        lines.append("  (none: ONNX Runtime is missing)")
    cuda = info["cuda"]
    lines.append("GPU: CUDA is used" if cuda["usable"] else f"GPU: {cuda['why_not'] or 'CUDA is not used'}")
    lines += ["", "DICOM compressed transfer syntaxes that decode here:"]
    for syntax, plugins in info["dicom_decoders"].items():
        lines.append(f"  {syntax:<70} {', '.join(plugins) or 'NO DECODER'}")
    zoo = info["model_zoo"]
    lines += ["", f"Model zoo: {zoo['manifest']}  version {zoo['zoo_version'] or '-'}"]
    if not zoo["models"] and zoo["ok"]:
        lines.append("  no models in the zoo yet")
    for model in zoo["models"]:
        state = "ok" if model["ok"] else ("missing" if not model["present"] else "SHA-256 MISMATCH")
        lines.append(f"  {model['name']:<24} {model['file']:<40} {state}")
    lines.append("")
    if info["problems"]:
        lines.append("Problems:")
        lines += [f"  - {p}" for p in info["problems"]]
    else:
        lines.append("No problems found.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = collect_info(args.zoo)
    print(json.dumps(info, indent=2) if args.json else _render(info))
    return exit_codes.PROBLEMS if info["problems"] else exit_codes.OK
