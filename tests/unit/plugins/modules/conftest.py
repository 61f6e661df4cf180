"""Run modules as Ansible does: a separate Python process fed its arguments as JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"


@pytest.fixture
def run_module(tmp_path):
    def run(name, check_mode=False, diff=False, **args):
        payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        args_file = tmp_path / ("%s-args.json" % name)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
        proc = subprocess.run(
            [sys.executable, str(REPO / "plugins" / "modules" / ("%s.py" % name)), str(args_file)],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        return json.loads(proc.stdout)
    return run


@pytest.fixture
def write_tree():
    """Create ``files`` (relative path -> text) under ``root``; returns the root."""
    def write(root, files):
        for rel, text in files.items():
            path = Path(root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return str(root)
    return write
