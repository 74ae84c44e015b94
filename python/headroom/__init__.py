"""headroom: a performance simulator for LLM inference.

A thin shell over the C++ core (``headroom._headroom``): hardware and model specs, step graphs,
the roofline and ``predict``, with the same validation and the same error text as the CLI. Specs
may be given as a loaded object, a name (``"h200-sxm"``, ``"llama3-8b"``), a path or a dict with
the YAML file's structure. Units are SI base units (bytes, seconds, Hz, B/s, FLOP/s, W).

Errors: ``headroom.InputError`` (bad data; a ``ValueError``), ``headroom.UsageError`` (bad
arguments; a ``ValueError``), both subclasses of ``headroom.Error``.
"""

from ._headroom import (
    Error,
    HardwareSpec,
    InputError,
    ModelSpec,
    RooflineResult,
    StepGraph,
    UsageError,
    build_step,
    format_quantity,
    import_hf,
    load_hardware,
    load_model,
    memory,
    parse_quantity,
    predict,
    read_trace,
    merge_runs,
    roofline,
    step,
)
from .frames import predict_dataframe, to_dataframe, write_trace
from .plot import plot_roofline

__version__ = "0.1.0"

for _exc in (Error, InputError, UsageError):
    _exc.__module__ = __name__


def _roofline_to_dataframe(self):
    """The rows as a pandas DataFrame (one row per operator; times in s, sizes in bytes)."""
    return to_dataframe(self.rows)


def _step_to_dataframe(self):
    """The operators as a pandas DataFrame, in issue order (shape fields flattened as shape.*)."""
    return to_dataframe(self.ops(), flatten=True)


RooflineResult.to_dataframe = _roofline_to_dataframe
StepGraph.to_dataframe = _step_to_dataframe

__all__ = [
    "Error",
    "HardwareSpec",
    "InputError",
    "ModelSpec",
    "RooflineResult",
    "StepGraph",
    "UsageError",
    "__version__",
    "build_step",
    "format_quantity",
    "import_hf",
    "load_hardware",
    "load_model",
    "memory",
    "parse_quantity",
    "plot_roofline",
    "predict",
    "predict_dataframe",
    "read_trace",
    "merge_runs",
    "roofline",
    "step",
    "to_dataframe",
    "write_trace",
]
