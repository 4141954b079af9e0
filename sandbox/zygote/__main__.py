"""Run the sandbox worker by path: ``python .../sandbox/zygote [--no-extras | --bare]``.

Loads this directory as a package under a private name without leaving it on ``sys.path`` (programs
forked from the worker must not find our modules), and imports nothing from ``simpletir``.
"""

import importlib.util
import os
import sys

PACKAGE = "_simpletir_sandbox_worker"

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[PACKAGE])
    main = importlib.import_module(f"{PACKAGE}.worker").main
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]  # loaded; a program must not find them either
    main(sys.argv[1:])
