"""moto's gaps, mended one service per module. scripts/moto-server.py
applies these patches before it starts moto; its docstring lists them all."""

import hashlib
import inspect
import sys


def check_replaced_source(replaced_source, function, name=None):
    """Stops here, before moto starts, when `function` is no longer the code
    its patch was written against (moto 5.2.5: `replaced_source` holds the
    sha256 of each such function's source), so that a moto upgrade that
    changes it fails loudly instead of deploying wrongly."""
    name = name or function.__qualname__
    digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    if digest != replaced_source[name]:
        refuse(f"moto's {name} changed; review the patch that replaces it")


def refuse(message):
    sys.exit(f"moto-server.py: {message}")
