"""README.md of the quadratic study's folder: the figures, the tables and the numbers they show in words."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sgdtricks.quadratic import iterate
from sgdtricks.quadratic.study import DROP, KAPPA, LAMBDA_MAX, LAMBDA_MIN, TOL_TEXT

COMMAND = "python -m sgdtricks.quadratic --out {out}"


def write_readme(out: Path, display_out: str, best: dict[str, float], rates: pd.DataFrame, table_md: str,
                 drop_md: str, drop: pd.DataFrame, meta: dict[str, str]) -> None:
    """README.md of DIR: the figures, the tables and where they came from."""
    gap = (rates.rate_measured / rates.rate_theory - 1).abs()
    first = drop[drop.step_after_drop == 0].iloc[0]
    text = f"""# Momentum on a quadratic: measured against the closed form

f(w) = ½ wᵀAw with eigenvalues λ_min … λ_max, κ = λ_max/λ_min. Per eigenvalue λ the lecture's two lines
(z ← βz + ∇f(w), w ← w − αz) make a linear recurrence with characteristic polynomial x² − (1 + β − αλ)x + β;
the rate (contraction of the distance to the optimum per iteration) is the largest |root| over the eigenvalues.
Rates below are **measured from the iterates** (least-squares slopes of the log distance of the state
(w_k, w_(k−1)) over iterations [{iterate.RATE_STEPS // 4}, {iterate.RATE_STEPS // 2}] and
[{iterate.RATE_STEPS // 2}, {iterate.RATE_STEPS}], extrapolated so that the k·r^k of a repeated root does
not bias them) and set beside the closed form. Over all {len(rates)} (α, β) pairs evaluated the largest
relative gap is {gap.max():.1e} (median {gap.median():.1e}); every pair is in
[`quadratic_rates.csv`](quadratic_rates.csv).

## The lecture's two pictures

![trajectories](quadratic_trajectories.png)

κ = {KAPPA:g} (λ_min = {LAMBDA_MIN:g}, λ_max = {LAMBDA_MAX:g}), 100 iterations from (−10, 1). Gradient descent at
its best step α = 2/(λ_min + λ_max) = {best['gd_alpha']:.4f} zig-zags across the valley at rate
(κ−1)/(κ+1) = {best['gd_rate']:.4f}; momentum at the optimal pair α = (2/(√λ_min + √λ_max))² =
{best['hb_alpha']:.4f}, β = ((√κ−1)/(√κ+1))² = {best['hb_beta']:.4f} converges at (√κ−1)/(√κ+1) =
{best['hb_rate']:.4f}. At that pair both λ_min and λ_max have a repeated root, so the distance falls like
k·r^k, a little above the dashed r^k. The optimal pair does not remove the swing across the steep direction
(its root there is −r): it makes it die out at {best['hb_rate']:.3f} per step instead of {best['gd_rate']:.3f},
while the iterate runs down the valley floor.

## Momentum allows a larger range of step sizes

![rate against alpha](quadratic_rate_vs_alpha.png)

Markers: measured; lines: closed form. Without momentum the iterates diverge beyond α = 2/λ_max; with
momentum β the stable range reaches 2(1 + β)/λ_max (dotted), up to twice as far as β → 1, while the rate
never drops below √β (the product of the two roots is β).

![rate map](quadratic_rate_map.png)

The measured rate over (β, α) with the closed form's contours (dashed), the stability edge and the optimum
(star); the right panel is the relative gap between the two.

## Condition number: (κ−1)/(κ+1) against (√κ−1)/(√κ+1)

{table_md}
Start w_0 ∝ (1, 1) in the eigenbasis; iterations until |w_k − w*| ≤ {TOL_TEXT}·|w_0 − w*|.
Files: [`quadratic_table.csv`](quadratic_table.csv), [`quadratic_table.tex`](quadratic_table.tex).

## The two momentum forms at a StepLR drop

![lr drop](momentum_forms_lr_drop.png)

{drop_md}
PyTorch (and `sgdtricks.optim.HeavyBall`) keep the learning rate outside the momentum: z ← βz + g,
w ← w − αz. The velocity form v ← βv − αg, w ← w + v is the same method at a constant α (v = −αz) but stores
α inside v. At a drop PyTorch's form shortens the step by γ at once (ratio {first.heavy_ball_step_ratio:.3f}
on the first new-lr step); the velocity form still carries the old-lr velocity ({first.velocity_step_ratio:.3f}),
whose share decays like β^k, over about 1/(1 − β) = {1 / (1 - DROP['beta']):.0f} steps: the two forms are identical
before the drop and differ only in how fast the step follows the new lr. Noisy gradients
A w + ξ, ξ ~ N(0, I), on the κ = {KAPPA:g} quadratic from w_0 = 0; the same ξ for both forms.
Files: [`momentum_forms_lr_drop.csv`](momentum_forms_lr_drop.csv), [`momentum_forms_lr_drop.tex`](momentum_forms_lr_drop.tex).

## Provenance

- command: `{COMMAND.format(out=display_out)}` (or `make quadratic`), {meta['seconds']} s on {meta['device']}
- commit: {meta['commit']}, written {meta['date']}
- versions: {meta['versions']}
"""
    (out / "README.md").write_text(text)
