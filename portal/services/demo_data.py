"""Realistic generated monitoring data for the demo seed and the benchmarks.

The real CC0 data in ``shared/data`` stays out of the repository; this module makes
data of the same shape, with a few deliberate defects a steward would meet:
missing names, 0/0 coordinates, future dates, duplicate occurrence ids and
negative counts.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

GENERA = ["Parus", "Turdus", "Sylvia", "Anthus", "Motacilla", "Corvus", "Falco", "Buteo",
          "Columba", "Picus", "Emberiza", "Fringilla", "Hirundo", "Alauda", "Lanius", "Oenanthe"]
EPITHETS = ["major", "merula", "atricapilla", "pratensis", "alba", "corone", "tinnunculus",
            "buteo", "palumbus", "viridis", "citrinella", "coelebs", "rustica", "arvensis",
            "collurio", "oenanthe", "minor", "caerulea", "cinerea", "borin"]
BASIS = ["HumanObservation", "HumanObservation", "HumanObservation", "MachineObservation"]

DWC_COLUMNS = ["occurrenceID", "scientificName", "eventDate", "year", "decimalLatitude",
               "decimalLongitude", "locality", "locationID", "individualCount",
               "basisOfRecord", "countryCode"]


def species_list(count: int = 60, seed: int = 7) -> list[str]:
    """Return ``count`` distinct plausible binomials."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count:
        names.add(f"{rng.choice(GENERA)} {rng.choice(EPITHETS)}")
    return sorted(names)


def occurrence_rows(rows: int, *, seed: int = 42, sites: int = 36,
                    first_year: int = 2010, last_year: int = 2025, defects: bool = True):
    """Yield Darwin Core occurrence rows (lists of strings, in DWC_COLUMNS order).

    Args:
        rows: how many rows.
        seed: random seed (the same seed gives the same file).
        sites: number of survey sites.
        first_year / last_year: the survey years.
        defects: add roughly 0.2% defective rows of each kind.
    """
    rng = random.Random(seed)
    taxa = species_list()
    site_coords = [(round(37.0 + rng.random() * 2, 4), round(-5.0 + rng.random() * 3, 4))
                   for _ in range(sites)]
    span = (date(last_year, 12, 31) - date(first_year, 1, 1)).days
    start = date(first_year, 1, 1)
    for index in range(rows):
        site = rng.randrange(sites)
        day = start + timedelta(days=rng.randrange(span))
        lat, lon = site_coords[site]
        row = [
            f"urn:demo:occ:{index:08d}",
            taxa[min(int(rng.expovariate(0.08)), len(taxa) - 1)],
            day.isoformat(),
            str(day.year),
            f"{lat + rng.uniform(-0.01, 0.01):.5f}",
            f"{lon + rng.uniform(-0.01, 0.01):.5f}",
            f"Site {site + 1:02d}",
            f"S{site + 1:02d}",
            str(1 + int(rng.expovariate(0.5))),
            rng.choice(BASIS),
            "ES",
        ]
        if defects:
            roll = rng.random()
            if roll < 0.002:
                row[1] = ""  # missing scientific name
            elif roll < 0.004:
                row[4], row[5] = "0", "0"  # null island
            elif roll < 0.006:
                row[2] = (date(last_year + 3, 1, 1) + timedelta(days=index % 300)).isoformat()
            elif roll < 0.008 and index:
                row[0] = f"urn:demo:occ:{index - 1:08d}"  # duplicate id
            elif roll < 0.010:
                row[8] = "-1"  # impossible count
        yield row


def write_occurrences(path: Path, rows: int, **kwargs) -> Path:
    """Write a Darwin Core occurrence CSV of ``rows`` rows to ``path``; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DWC_COLUMNS)
        writer.writerows(occurrence_rows(rows, **kwargs))
    return path


def write_plot_census(path: Path, *, seed: int = 3, plots: int = 24,
                      years: range = range(1995, 2025)) -> Path:
    """Write a non-Darwin-Core plot census (day, month, year, plot, species, count, flag).

    Mirrors the shape of a long-term plot census: the day is sometimes unknown, a
    plot is sometimes redone (flag 10, duplicate rows), and not every plot is
    surveyed every year.
    """
    rng = random.Random(seed)
    taxa = [name.lower().replace(" ", " ")[:4] + " " + name.split()[1][:4]
            for name in species_list(27, seed=seed)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["day", "month", "year", "plot", "species", "count", "flag"])
        for year in years:
            for plot in range(1, plots + 1):
                if rng.random() < 0.08:
                    continue  # plot not surveyed this year
                day = "" if rng.random() < 0.1 else str(rng.randint(1, 28))
                month = str(rng.randint(6, 8))
                for taxon in rng.sample(taxa, rng.randint(3, 12)):
                    row = [day, month, str(year), str(plot), taxon,
                           str(rng.randint(1, 20)), ""]
                    writer.writerow(row)
                    if rng.random() < 0.01:
                        writer.writerow([*row[:-1], "10"])  # plot redone: duplicate data
    return path


def write_species_vocabulary(path: Path, *, seed: int = 3) -> Path:
    """Write the species-code vocabulary that matches ``write_plot_census``."""
    taxa = [name.lower()[:4] + " " + name.split()[1][:4] for name in species_list(27, seed=seed)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["species", "scientificName"])
        for code, name in zip(taxa, species_list(27, seed=seed), strict=True):
            writer.writerow([code, name])
    return path
