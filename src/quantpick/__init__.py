"""quantpick: pick the right GGUF quant of a Hugging Face repo for your machine.

The Python API is the service layer the CLI renders, imported lazily so `import quantpick` stays light:

    import quantpick
    result = quantpick.recommend("bartowski/Qwen_Qwen3-8B-GGUF", hardware=quantpick.probe())
    print(result.recommendation.pick.label, result.command)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "probe": "quantpick.service",
    "resolve_hardware": "quantpick.service",
    "load_repo": "quantpick.service",
    "recommend": "quantpick.service",
    "plan_sizes": "quantpick.service",
    "plan_get": "quantpick.service",
    "run_get": "quantpick.service",
    "load_catalog": "quantpick.service",
    "Options": "quantpick.rules",
    "QuantpickError": "quantpick.errors",
}

__all__ = [
    "Options",
    "QuantpickError",
    "__version__",
    "load_catalog",
    "load_repo",
    "plan_get",
    "plan_sizes",
    "probe",
    "recommend",
    "resolve_hardware",
    "run_get",
]

if TYPE_CHECKING:
    from quantpick.errors import QuantpickError
    from quantpick.rules import Options
    from quantpick.service import (
        load_catalog,
        load_repo,
        plan_get,
        plan_sizes,
        probe,
        recommend,
        resolve_hardware,
        run_get,
    )


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'quantpick' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
