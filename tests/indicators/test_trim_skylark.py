"""Every skylark case of TRIM 3.61/3.70 reproduced figure by figure.

The cases (data, command files, TRIM's printed output) are rtrim's test suite, kept in
``trim_cases/`` (see its README). A printed figure matches when ours is within half a
unit of its last printed digit plus rtrim's tolerances: 1e-4 relative on estimates,
standard errors, indices and totals; 1e-3 on chi-square, likelihood ratio and AIC;
1e-2 on Wald statistics. TRIM 3.70 prints p = 0.0000 for chi-square and LR whatever
their value (a known defect of that version), so those two p's are compared for 3.61 only.
"""

from __future__ import annotations

import numpy as np
import pytest

from jobs.indicators.trim import from_long, trim
from tests.indicators.trim_outfile import CASES, Printed, read_dat, read_out, read_tcf

ESTIMATE, FIT, WALD = 1e-4, 1e-3, 1e-2
NAMES = sorted(p.stem for p in CASES.glob("skylark-*.out"))


def close(ours: float, printed: Printed, rel: float = ESTIMATE) -> bool:
    """Within the printed precision plus the relative tolerance."""
    return abs(ours - printed.value) <= printed.half_unit + rel * abs(printed.value) + 1e-12


def assert_row(ours: list[float], printed: list[Printed], what: str, rel: float = ESTIMATE):
    bad = [(o, p.value) for o, p in zip(ours, printed, strict=True) if not close(o, p, rel)]
    assert not bad, f"{what}: ours vs TRIM {bad}"


def run_case(name: str):
    """Fit a case as its command file says; time labels and sites as integers."""
    command = read_tcf(name)
    rows = read_dat(command)
    first_covariate = 4 if command.weight else 3
    data = from_long(
        [int(r[0]) for r in rows],
        [int(r[1]) for r in rows],
        [r[2] for r in rows],
        weight=[r[3] for r in rows] if command.weight else None,
        covariates={
            command.labels[k - 1]: [int(r[first_covariate + k - 1]) for r in rows]
            for k in command.covariates
        },
    )
    times = data.time_points
    result = trim(
        data,
        model=command.model,
        changepoints=[times[k - 1] for k in command.changepoints] or None,
        stepwise=command.stepwise,
        overdisp=command.overdisp,
        serialcor=command.serialcor,
        overall_changepoints=[times[k - 1] for k in command.overall_changepoints] or None,
    )
    return command, result


def slope_values(slope) -> list[float]:
    return [slope.additive, slope.se_additive, slope.multiplicative, slope.se_multiplicative]


@pytest.mark.parametrize("name", NAMES)
def test_case_reproduces_trim_output(name):
    command, result = run_case(name)
    printed = read_out(name)
    assert result.status == "ok" and result.converged

    summary = printed["summary"]
    assert result.data.n_sites == summary["n_sites"]
    if summary["removed_sites"] is not None:  # TRIM 3.70 does not print it
        assert len(result.data.removed_sites) == summary["removed_sites"]
    assert result.data.n_zero == summary["n_zero"]
    assert result.data.n_positive == summary["n_positive"]
    assert result.data.n_observed == summary["n_observed"]
    assert result.data.n_missing == summary["n_missing"]
    assert result.data.n_observed + result.data.n_missing == summary["n_counts"]
    assert result.data.total_count == summary["total_count"]

    if command.overdisp:
        assert close(result.overdispersion, printed["sig2"])
    if command.serialcor:
        assert close(result.serial_correlation, printed["rho"])

    gof = result.gof
    for ours, p_ours, key in ((gof.chi2, gof.chi2_p, "chi2"), (gof.lr, gof.lr_p, "lr")):
        value, df, p = printed[key]
        assert close(ours, value, FIT), (key, ours, value)
        assert gof.df == df
        if printed["version"] == "3.61":
            assert close(p_ours, p), (key, p_ours, p)
    assert close(gof.aic, printed["aic"], FIT)

    check_wald(result, printed["wald"])
    check_coefficients(result, printed["coefficients"])

    for k, row in enumerate(printed["indices"]):
        ours = [result.indices.model[k], result.indices.se_model[k],
                result.indices.imputed[k], result.indices.se_imputed[k]]
        if len(row) == 3:  # base time: "1   1   1"
            assert result.indices.time[k] == row[0].value and ours[0] == ours[2] == 1.0
            assert ours[1] == ours[3] == 0.0
        else:
            assert_row(ours, row[1:], f"index at time {row[0].value}")
    for k, row in enumerate(printed["totals"]):
        ours = [result.totals.model[k], result.totals.se_model[k],
                result.totals.imputed[k], result.totals.se_imputed[k]]
        assert_row(ours, row[1:], f"time total at {row[0].value}")

    for key, entry in printed["slopes"].items():
        if key.endswith("_intervals"):
            for slope, row in zip(result.slopes[key], entry, strict=True):
                assert_row(slope_values(slope), row, key)
            continue
        values, verdict = entry
        assert_row(slope_values(result.slopes[key]), values, f"overall slope {key}")
        if verdict:
            assert result.slopes[key].verdict == verdict

    steps = [(s.changepoint, s.p) for s in result.stepwise]
    assert len(steps) == len(printed["stepwise"])
    for (cp, p), (printed_cp, printed_p) in zip(steps, printed["stepwise"], strict=True):
        assert cp == printed_cp and close(p, printed_p)


def check_wald(result, printed: dict) -> None:
    kinds = {"slope": "slope", "deviations": "deviations from linear trend",
             "covariate": "covariate", "change": "change in slope"}
    ours_all = [t for t in result.wald]
    assert len(ours_all) == sum(len(v) for v in printed.values())
    for key, rows in printed.items():
        ours = [t for t in ours_all if t.test == kinds[key]]
        assert len(ours) == len(rows), key
        for test, (label, statistic, df, p) in zip(ours, rows, strict=True):
            if key == "change":
                assert str(test.label) == label
            assert close(test.statistic, statistic, WALD), (key, test.statistic, statistic)
            assert test.df == df
            assert close(test.p, p), (key, test.p, p)


def check_coefficients(result, printed: dict) -> None:
    by_block = {}
    for c in result.coefficients:
        block = "baseline" if c.block == "baseline" else f"category {c.block.split('=')[1]}"
        key = c.time if c.time is not None else (c.start, c.end)
        by_block[(block, key)] = [c.additive, c.se_additive, c.multiplicative, c.se_multiplicative]
    times = result.totals.time
    if "slope" in printed:
        assert_row(by_block[("baseline", (times[0], times[-1]))], printed["slope"], "slope")
    for block, key, values in printed["rows"]:
        if isinstance(key, tuple):  # intervals printed as time numbers or labels
            key = tuple(times[k - 1] if k <= len(times) else k for k in key)
        assert_row(by_block[(block, key)], values, f"coefficient {block} {key}")
    assert len(printed["rows"]) + ("slope" in printed) == len(result.coefficients)
    if "trend" in printed:
        t = result.linear_trend
        assert_row([t.additive, t.se_additive, t.multiplicative, t.se_multiplicative],
                   printed["trend"], "linear trend")
        for dev, row in zip(result.deviations, printed["deviations"], strict=True):
            assert_row([dev.additive, dev.se_additive, dev.multiplicative,
                        dev.se_multiplicative], row, f"deviation at {dev.time}")


def test_imputed_totals_covariance_equals_trim_ocv_file():
    _, result = run_case("skylark-x1")
    printed = np.loadtxt(CASES / "skylark-x1.ocv")
    assert np.allclose(result.totals.cov_imputed, printed, rtol=1e-3, atol=5e-3)
