"""Generated site × year point counts for the bird-atlas demo's TRIM indices and MSI.

The shape of a national breeding-bird scheme's count file: every site is meant to be
visited once a year, but about a fifth of the site-years were never visited (those
have no rows: not counted), and a visit records every species of the list — 0 when it
was looked for and not found. A few counts were left empty on the form (not counted
either). Farmland species decline at different rates, woodland species are stable or
increase, and the great bustard is too rare for TRIM (reported, never guessed).
Counts are negative binomial around site and year effects, so overdispersion and
serial correlation are real.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

#: species -> (yearly change of the expected count, mean count at an average site)
SPECIES: dict[str, tuple[float, float]] = {
    "Alauda arvensis": (-0.035, 6.0),
    "Emberiza calandra": (-0.020, 4.0),
    "Galerida cristata": (-0.010, 3.0),
    "Streptopelia turtur": (-0.060, 2.5),
    "Coturnix coturnix": (0.000, 1.5),
    "Upupa epops": (0.015, 1.2),
    "Fringilla coelebs": (0.010, 7.0),
    "Erithacus rubecula": (0.025, 3.5),
    "Parus major": (0.005, 4.5),
    "Otis tarda": (0.0, 0.0),  # seen at two sites in three years only
}
FARMLAND = ["Alauda arvensis", "Emberiza calandra", "Galerida cristata",
            "Streptopelia turtur", "Coturnix coturnix", "Upupa epops", "Otis tarda"]
COLUMNS = ["locationID", "year", "scientificName", "count"]


def _negative_binomial(rng: random.Random, mean: float, size: float = 2.0) -> int:
    """A negative-binomial draw as a gamma-Poisson mixture (variance mean + mean²/size)."""
    rate = rng.gammavariate(size, mean / size) if mean > 0 else 0.0
    # Poisson by inversion (rates here are small)
    threshold, k, product = math.exp(-rate), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def count_rows(*, seed: int = 21, sites: int = 40, first_year: int = 2010,
               last_year: int = 2025, missing: float = 0.2):
    """Yield ``[locationID, year, scientificName, count]`` rows (count "" = not counted)."""
    rng = random.Random(seed)
    site_effect = [rng.gauss(0.0, 0.6) for _ in range(sites)]
    year_noise = {year: rng.gauss(0.0, 0.08) for year in range(first_year, last_year + 1)}
    for site in range(sites):
        for year in range(first_year, last_year + 1):
            if rng.random() < missing:
                continue  # not visited: no rows at all
            for name, (change, mean) in SPECIES.items():
                if name == "Otis tarda":
                    seen = site in (3, 17) and year in (2012, 2016, 2021)
                    value = str(rng.randint(1, 3)) if seen else "0"
                else:
                    expected = mean * math.exp(site_effect[site] + change * (year - first_year)
                                               + year_noise[year])
                    value = str(_negative_binomial(rng, expected))
                if rng.random() < 0.005:
                    value = ""  # left empty on the form: not counted
                yield [f"S{site + 1:02d}", str(year), name, value]


def write_point_counts(path: Path, **kwargs) -> Path:
    """Write the demo's point-count CSV to ``path``; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(count_rows(**kwargs))
    return path
