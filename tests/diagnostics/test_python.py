from __future__ import annotations

import sys
from pathlib import Path

import pytest

from previewd.diagnostics import Diagnostic, parse
from tests.diagnostics.helpers import output

NAME_ERROR = """\
Traceback (most recent call last):
  File "/work/app.py", line 2, in <module>
    print(y)
          ^
NameError: name 'y' is not defined
"""

# The last frames are the standard library's: the project's last frame is the one.
IN_THE_STANDARD_LIBRARY = """\
Traceback (most recent call last):
  File "/work/j.py", line 4, in <module>
    load()
  File "/work/j.py", line 3, in load
    return json.loads("{")
           ^^^^^^^^^^^^^^^
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py", line 353, in raw_decode
    obj, end = self.scan_once(s, idx)
               ^^^^^^^^^^^^^^^^^^^^^^
json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
"""

# `flask --app app routes` in a build step; the project's venv is inside /work.
IN_SITE_PACKAGES = """\
Traceback (most recent call last):
  File "/work/.venv/lib/python3.11/site-packages/flask/cli.py", line 245, in locate_app
    __import__(module_name)
  File "/work/app.py", line 4, in <module>
    from models import User
  File "/work/models.py", line 2, in <module>
    from sqlalchemy import Column
  File "/work/.venv/lib/python3.11/site-packages/sqlalchemy/__init__.py", line 12, in <module>
    from .engine import AdaptedConnection
ImportError: cannot import name 'AdaptedConnection' from 'sqlalchemy.engine'
"""

CHAINED = """\
Traceback (most recent call last):
  File "/work/chain.py", line 3, in handler
    {}["k"]
    ~~^^^^^
KeyError: 'k'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/work/chain.py", line 6, in <module>
    handler()
  File "/work/chain.py", line 5, in handler
    raise RuntimeError("config missing") from e
RuntimeError: config missing
"""

SYNTAX_ERROR = """\
  File "/work/ind.py", line 2
    x = (1,
        ^
SyntaxError: '(' was never closed
"""

FROM_DASH_C = """\
Traceback (most recent call last):
  File "<string>", line 1, in <module>
NameError: name 'x' is not defined
"""

# The process was killed mid-traceback: nothing sure to report.
CUT_SHORT = """\
Traceback (most recent call last):
  File "/work/app.py", line 9, in <module>
    main()
Killed
"""

# A build backend failing inside pip: its traceback comes indented.
PIP_BACKEND_TRACEBACK = """\
  × Getting requirements to build wheel did not run successfully.
  │ exit code: 1
  ╰─> [9 lines of output]
      Traceback (most recent call last):
        File "/work/.venv/lib/python3.11/site-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py", line 353, in <module>
          main()
        File "/work/setup.py", line 4, in <module>
          from Cython.Build import cythonize
      ModuleNotFoundError: No module named 'Cython'
      [end of output]
"""

PIP_NOT_FOUND = """\
Looking in indexes: https://pypi.org/simple
WARNING: Location 'file:///opt/pypi/simple/nope-previewd-xyz/' is ignored: it is neither a file nor a directory.
ERROR: Could not find a version that satisfies the requirement nope-previewd-xyz (from versions: none)
ERROR: No matching distribution found for nope-previewd-xyz
"""

PIP_CONFLICT = """\
Collecting requests==2.31.0 (from -r requirements.txt (line 1))
Collecting urllib3==1.20 (from -r requirements.txt (line 2))
INFO: pip is looking at multiple versions of requests to determine which version is compatible with other requirements. This could take a while.
ERROR: Cannot install -r requirements.txt (line 1) and urllib3==1.20 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested urllib3==1.20
    requests 2.31.0 depends on urllib3<3 and >=1.21.1

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
"""

PIP_MISC = """\
ERROR: Could not open requirements file: [Errno 2] No such file or directory: 'requirements-dev.txt'
ERROR: Invalid requirement: 'flask==': Expected end or semicolon (after name and no valid version specifier)
    flask==
         ^ (from line 3 of requirements.txt)
"""

# pip 23+ prints a build failure as a rich error, indented under "Building wheel".
PIP_BUILD_FAILED = """\
Collecting psycopg2==2.9.9
  Building wheel for psycopg2 (pyproject.toml) ... error
  error: subprocess-exited-with-error

  × Building wheel for psycopg2 (pyproject.toml) did not run successfully.
  │ exit code: 1
  ╰─> [3 lines of output]
      running build_ext
      Error: pg_config executable not found.
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for psycopg2
Failed to build psycopg2
ERROR: Could not build wheels for psycopg2, which is required to install pyproject.toml-based projects
"""


def test_name_error() -> None:
    assert parse(NAME_ERROR.splitlines()) == [
        Diagnostic(
            "python", "name 'y' is not defined", "app.py", 2, None, "print(y)\n      ^", "NameError"
        )
    ]


def test_the_project_s_last_frame_wins_over_the_standard_library() -> None:
    (found,) = parse(IN_THE_STANDARD_LIBRARY.splitlines())
    assert (found.file, found.line, found.code) == ("j.py", 3, "json.decoder.JSONDecodeError")
    assert found.excerpt == 'return json.loads("{")\n       ^^^^^^^^^^^^^^^'


def test_the_project_s_last_frame_wins_over_site_packages_inside_the_project() -> None:
    (found,) = parse(IN_SITE_PACKAGES.splitlines())
    assert found.summary() == (
        "models.py:2 ImportError: cannot import name 'AdaptedConnection' from 'sqlalchemy.engine'"
    )


def test_a_chain_reports_its_last_exception_only() -> None:
    (found,) = parse(CHAINED.splitlines())
    assert found.summary() == "chain.py:5 RuntimeError: config missing"


def test_syntax_error_without_traceback_line_has_no_column() -> None:
    assert parse(SYNTAX_ERROR.splitlines()) == [
        Diagnostic(
            "python", "'(' was never closed", "ind.py", 2, None, "x = (1,\n    ^", "SyntaxError"
        )
    ]


def test_an_indented_traceback_keeps_its_margin() -> None:
    (found,) = parse(PIP_BACKEND_TRACEBACK.splitlines())
    assert found.summary() == "setup.py:4 ModuleNotFoundError: No module named 'Cython'"
    assert found.excerpt == "from Cython.Build import cythonize"


def test_pseudo_files_and_truncated_tracebacks() -> None:
    assert parse(FROM_DASH_C.splitlines()) == [
        Diagnostic("python", "name 'x' is not defined", code="NameError")
    ]
    assert parse(CUT_SHORT.splitlines()) == []


def test_pip_not_found_is_one_diagnostic() -> None:
    assert parse(PIP_NOT_FOUND.splitlines()) == [
        Diagnostic(
            "pip",
            "Could not find a version that satisfies the requirement nope-previewd-xyz "
            "(from versions: none)",
        )
    ]


def test_pip_conflict_points_at_the_requirement_and_explains_it() -> None:
    (found,) = parse(PIP_CONFLICT.splitlines())
    assert (found.tool, found.file, found.line) == ("pip", "requirements.txt", 1)
    assert found.message.startswith("Cannot install -r requirements.txt (line 1) and urllib3==1.20")
    assert found.excerpt == (
        "The user requested urllib3==1.20\nrequests 2.31.0 depends on urllib3<3 and >=1.21.1"
    )


def test_pip_requirement_files() -> None:
    assert [(d.file, d.line) for d in parse(PIP_MISC.splitlines())] == [
        ("requirements-dev.txt", None),
        ("requirements.txt", 3),
    ]


def test_pip_build_failure() -> None:
    assert [d.summary() for d in parse(PIP_BUILD_FAILED.splitlines())] == [
        "pip subprocess-exited-with-error: Building wheel for psycopg2 (pyproject.toml) did not "
        "run successfully.",
        "pip: Could not build wheels for psycopg2, which is required to install "
        "pyproject.toml-based projects",
    ]


def test_a_bare_error_line_is_pip_s_only_where_pip_ran() -> None:
    line = "ERROR: Something unexpected happened"
    assert parse([line]) == []
    assert parse(["Collecting flask", line]) == [Diagnostic("pip", "Something unexpected happened")]


def test_real_python_errors(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import json\n\ndef load():\n    return json.loads('{')\n\nload()\n"
    )
    (found,) = parse(output([sys.executable, "app.py"], tmp_path), root=tmp_path)
    assert (found.tool, found.file, found.line, found.code) == (
        "python",
        "app.py",
        4,
        "json.decoder.JSONDecodeError",
    )
    (tmp_path / "bad.py").write_text("def f(:\n    pass\n")
    (found,) = parse(output([sys.executable, "bad.py"], tmp_path), root=tmp_path)
    assert (found.file, found.line, found.code) == ("bad.py", 1, "SyntaxError")
    assert found.excerpt is not None and found.excerpt.startswith("def f(:")


@pytest.mark.network
def test_real_pip_not_found(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", "dl", "nope-previewd-xyz"]
    (found,) = parse(output(argv, tmp_path), root=tmp_path)
    assert found.tool == "pip"
    assert "nope-previewd-xyz" in found.message
