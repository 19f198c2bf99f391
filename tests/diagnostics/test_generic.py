from __future__ import annotations

from previewd.diagnostics import Diagnostic, parse

# node-gyp compiling a native module during `npm install`, then mypy.
COMPILERS = """\
gyp info spawn args [ 'BUILDTYPE=Release', '-C', 'build' ]
  CXX(target) Release/obj.target/binding/src/binding.o
../src/binding.cc:3:10: fatal error: node_api.h: No such file or directory
    3 | #include <node_api.h>
      |          ^~~~~~~~~~~~
compilation terminated.
/work/app/models.py:12: error: Incompatible return value type (got "str", expected "int")  [return-value]
src/util.c:7:5: warning: unused variable 'x' [-Wunused-variable]
"""


def test_compiler_errors_and_not_their_warnings() -> None:
    assert parse(COMPILERS.splitlines()) == [
        Diagnostic("generic", "node_api.h: No such file or directory", "../src/binding.cc", 3, 10),
        Diagnostic(
            "generic",
            'Incompatible return value type (got "str", expected "int")  [return-value]',
            "app/models.py",
            12,
        ),
    ]
