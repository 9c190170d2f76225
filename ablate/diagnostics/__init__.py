"""Per-layer training diagnostics: *why* a configuration trains or stalls.

Accuracy tables show that sigmoid with small random init stalls; these numbers
show the mechanism (Glorot & Bengio 2010, He et al. 2015): activations
shrinking layer by layer, units pinned at a sigmoid/tanh bound, ReLUs that
never fire, gradients vanishing toward the input.

  cadence    record_epochs: when to record (DiagnosticsConfig is in schema.run)
  recorder   Recorder: one probe pass → long-format rows (what is measured, how)
  table      diagnostics.csv: COLUMNS, write_csv, read_csv
  alerts     warnings(rows): one line per problem, from the last recorded epoch
"""

from ablate.diagnostics.alerts import warnings
from ablate.schema.run import DiagnosticsConfig
from ablate.diagnostics.cadence import record_epochs
from ablate.diagnostics.recorder import Recorder, layer_names
from ablate.diagnostics.table import COLUMNS, read_csv, write_csv

__all__ = ["COLUMNS", "DiagnosticsConfig", "Recorder", "layer_names", "read_csv", "record_epochs",
           "warnings", "write_csv"]
