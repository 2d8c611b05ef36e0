"""The README's examples run as pasted: every ```python block runs in a fresh interpreter
(nothing defined by an earlier block), and every `sparsekit ...` line of a ```bash block names a
real command."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sparsekit.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(language):
    text = README.read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 1, m.group(2))
            for m in FENCE.finditer(text) if m.group(1) == language]


def test_readme_has_python_examples():
    assert len(blocks("python")) >= 3


@pytest.mark.parametrize("line, code", blocks("python"),
                         ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_python_block_runs_as_pasted(line, code, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (f"README.md line {line}: the block fails as pasted:\n"
                                    f"{result.stderr[-3000:]}")


def test_bash_blocks_name_real_commands():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for line, code in blocks("bash"):
        for text in code.splitlines():
            for part in text.split("&&"):
                words = shlex.split(part.split("#")[0]) if part.strip() else []
                if words[:1] == ["sparsekit"] and len(words) > 1 \
                        and not words[1].startswith("-"):
                    assert words[1] in commands, f"README.md line {line}: {text!r}"
