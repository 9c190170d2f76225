"""When diagnostics are recorded: `diagnostics.every`, `diagnostics=off`."""

from __future__ import annotations

from dataclasses import dataclass

# ablate.config.schema is imported where used: the schema holds DiagnosticsConfig.


@dataclass(frozen=True)
class DiagnosticsConfig:
    every: int = 0  # 0: epoch 0 (before training), the middle and the end; N: every N epochs
    enabled: bool = True

    def __post_init__(self) -> None:
        from ablate.config.schema import require

        require(self.every >= 0, "diagnostics.every", self.every,
                ">= 0 epochs (0: before training, the middle and the end)")


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
