"""Named hardware descriptions shipped as YAML in ``hwmodel/presets/``.

Directories listed in the environment variable ``HWMODEL_PRESET_PATH`` (separated by
``os.pathsep``) are searched first, so a calibration run can write its own "host-cpu" without
touching the installed package.
"""

import difflib
import os
from pathlib import Path

from .hardware import Hardware
from .yamlsource import shown

PRESET_DIR = Path(__file__).with_name("presets")


def _directories():
    extra = os.environ.get("HWMODEL_PRESET_PATH", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + [PRESET_DIR]


def preset_path(name):
    """Path of the preset called ``name`` (first match on the search path)."""
    for directory in _directories():
        path = directory / f"{name}.yaml"
        if path.is_file():
            return path
    raise ValueError(f"no hardware preset {shown(name)}; known presets: {', '.join(presets())}")


def presets():
    """Names of the available presets, sorted."""
    return sorted({p.stem for d in _directories() if d.is_dir() for p in d.glob("*.yaml")})


def load(name_or_path):
    """A ``Hardware`` from a preset name, a YAML file path, or a ``Hardware`` (returned as is).

    An unknown name raises ValueError listing the known presets (and the closest ones)."""
    if isinstance(name_or_path, Hardware):
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError("expected a preset name, a YAML path or a Hardware, got "
                        f"{type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    if os.path.isfile(text) or isinstance(name_or_path, os.PathLike) \
            or text.endswith((".yaml", ".yml")):
        return Hardware.from_yaml(name_or_path)     # a missing file: HardwareError naming it
    if text in presets():
        return Hardware.from_yaml(preset_path(text))
    close = difflib.get_close_matches(text, presets(), n=2)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"{shown(text)} is neither a YAML file nor a preset; "
                     f"known presets: {', '.join(presets())}{hint}")
