"""Benchmark records: ``DIR/NAME.json`` (machine-readable) and ``DIR/NAME.md`` (a table)."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

import pdeml
from pdeml.io import write_json_atomic, write_text_atomic
from pdeml.report import markdown_table

PRESETS = ("tiny", "small", "paper")


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def current_command() -> str:
    return " ".join(shlex.quote(a) for a in ["pdeml", *sys.argv[1:]]) if sys.argv else "pdeml"


def write_record(out_dir: str | os.PathLike, name: str, preset: str, device: torch.device,
                 results: list[dict[str, Any]], command: str | None = None,
                 notes: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the JSON record and the Markdown table; returns the record."""
    record = {
        "name": name,
        "preset": preset,
        "command": command or current_command(),
        "device": device_description(device),
        "pdeml_version": pdeml.__version__,
        "torch_version": torch.__version__,
        "results": results,
        **(extra or {}),
    }
    out = Path(out_dir)
    write_json_atomic(out / f"{name}.json", record)
    md = [f"# Benchmark `{name}` (preset `{preset}`)", "", f"Command: `{record['command']}`",
          f"Device: {record['device']}", "", markdown_table(results)]
    if notes:
        md += [notes, ""]
    write_text_atomic(out / f"{name}.md", "\n".join(md))
    return record
