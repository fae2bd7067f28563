"""`data-engine`: the command line for scripting and operations.

Commands parse arguments, call one stage (data_engine/stages/) or domain function and print; one module per
command group, the group and its dispatch in `dispatch`. The engine's own errors (bad settings, an unreachable
catalog, a missing file or id, bad input) print one `error: ...` line and exit with status 2; any other exception
is a bug and keeps its traceback. `--debug` (or DATA_ENGINE_DEBUG=1) shows the traceback of the engine's errors
too.
"""

from data_engine.cli.dispatch import main, run
from data_engine.cli.output import duration_text

__all__ = ["duration_text", "main", "run"]
