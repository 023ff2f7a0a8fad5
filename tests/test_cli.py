"""The command line: ``python -m fastconv`` and the ``fastconv`` console
script are the same ``main()``; ``--version`` prints the package version."""
import subprocess
import sys

import pytest

import fastconv
from fastconv.__main__ import main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastconv {fastconv.__version__}"


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "info" in err and "tune" in err and "bench" in err


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "fastconv", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"fastconv {fastconv.__version__}"
    assert "usage: python -m fastconv" in subprocess.run(
        [sys.executable, "-m", "fastconv", "--help"], capture_output=True, text=True, timeout=120).stdout


def test_console_script_declared():
    """The installed distribution's metadata names main() as the fastconv script."""
    from importlib import metadata

    try:
        scripts = metadata.distribution("fastconv").entry_points
    except metadata.PackageNotFoundError:
        pytest.skip("fastconv is not installed (running from the source tree)")
    script = [ep for ep in scripts if ep.group == "console_scripts" and ep.name == "fastconv"]
    assert script and script[0].value == "fastconv.__main__:main", scripts
