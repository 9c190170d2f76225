"""What a practitioner would want to know, in one line per problem."""

from __future__ import annotations

import math

from ablate.diagnostics.recorder import SATURATION_MARGIN


def warnings(rows: list[dict], *, grad_ratio: float = 100.0, act_ratio: float = 100.0,
             dead: float = 0.5, saturated: float = 0.5) -> list[str]:
    """One line per problem a practitioner would act on, from the last recorded epoch.

    - vanishing gradients: the first layer's gradient norm `grad_ratio` times
      (default 100×, two orders of magnitude) or more below the last layer's.
      A layer's norm is that of all its parameters' gradients together
      (√Σ grad_norm² at one depth): with tiny weights the *weight* gradients of
      every layer shrink alike (forward signal × backward signal), while the
      bias gradients, the backward signal itself, show the decay.
    - collapsing activations: the deepest activation's std `act_ratio` times
      or more below the first's.
    - dead units: more than `dead` of a layer's units never fire on the probe.
    - saturation: more than `saturated` of a layer's outputs sit at a bound.
    """
    if not rows:
        return []
    epoch = max(int(r["epoch"]) for r in rows)
    now = [r for r in rows if int(r["epoch"]) == epoch]
    out: list[str] = []

    grad_sq: dict[int, float] = {}
    grad_layer: dict[int, str] = {}
    for r in now:
        if r["statistic"] == "grad_norm" and int(r["depth"]) >= 0:
            d = int(r["depth"])
            grad_sq[d] = grad_sq.get(d, 0.0) + float(r["value"]) ** 2
            grad_layer.setdefault(d, str(r["layer"]).rsplit(".", 1)[0])
    if len(grad_sq) >= 2:
        first, last = min(grad_sq), max(grad_sq)
        g0, g1 = math.sqrt(grad_sq[first]), math.sqrt(grad_sq[last])
        if g1 > 0 and (g0 == 0 or g1 / g0 >= grad_ratio):
            factor = "∞" if g0 == 0 else f"{g1 / g0:.3g}"
            out.append(f"vanishing gradients (epoch {epoch}): gradient norm {g0:.3g} at the first layer "
                       f"({grad_layer[first]}, depth {first}) is {factor}× below {g1:.3g} at the last "
                       f"({grad_layer[last]}, depth {last}); threshold {grad_ratio:g}×")

    stds = sorted((int(r["depth"]), float(r["value"]), r["layer"]) for r in now if r["statistic"] == "act_std")
    if len(stds) >= 2:
        (d0, s0, l0), (d1, s1, l1) = stds[0], stds[-1]
        if s0 > 0 and s1 * act_ratio <= s0:
            factor = "∞" if s1 == 0 else f"{s0 / s1:.3g}"
            out.append(f"collapsing activations (epoch {epoch}): std {s1:.3g} at the deepest activation ({l1}, "
                       f"depth {d1}) is {factor}× below {s0:.3g} at the first ({l0}, depth {d0}); "
                       f"threshold {act_ratio:g}×")

    for statistic, limit, what, detail in (
        ("dead_frac", dead, "dead units", "of units whose ReLU never fires on the probe"),
        ("saturated_frac", saturated, "saturation",
         f"of outputs within {SATURATION_MARGIN:.0%} of the range of a bound"),
    ):
        layers = [(float(r["value"]), r["layer"], int(r["depth"])) for r in now if r["statistic"] == statistic]
        over = [x for x in layers if x[0] > limit]
        if over:
            value, layer, depth = max(over, key=lambda x: (x[0], -x[2]))  # ties: the shallowest, the cause
            out.append(f"{what} (epoch {epoch}): {len(over)} of {len(layers)} activation layers have more "
                       f"than {limit:.0%} {detail}; worst {layer} (depth {depth}) at {value:.1%}")
    return out
