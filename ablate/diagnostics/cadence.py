"""When diagnostics are recorded: `diagnostics.every`, `diagnostics=off`."""

from __future__ import annotations

from ablate.schema.run import DiagnosticsConfig


def record_epochs(cfg: DiagnosticsConfig, epochs: int) -> set[int]:
    """Epochs to record: 0 is before training, k after the k-th epoch.

    Every cadence includes 0 and the last epoch, so the start can be compared
    with the end and `warnings` always reads the final state.
    """
    if not cfg.enabled:
        return set()
    if cfg.every == 0:
        return {0, epochs // 2, epochs}
    return {0, *range(cfg.every, epochs + 1, cfg.every), epochs}
