"""Small monitoring packages built inside the tests: an event-core Darwin Core Archive
and a Camtrap DP package, from generated data (seeded, so every run is the same)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from portal.services.demo_packages import write_camtrap_rows, write_event_core_rows

SITES = [f"P{n}" for n in (1, 2, 3, 10, 11)]
YEARS = ["2019", "2020", "2021"]
TAXA = ["Parus major", "Erithacus rubecula", "Turdus merula"]


@dataclass
class EventCore:
    """The rows written into the archive (as plain dicts, for independent checks)."""

    events: list[dict]
    occurrences: list[dict]
    measurements: list[dict]


def event_core_rows(seed: int = 3) -> EventCore:
    """Events (some site/years never surveyed, some surveyed with nothing found),
    occurrences with counts (absences as 0) and a measurement per event."""
    rng = random.Random(seed)
    events, occurrences, measurements = [], [], []
    for site in SITES:
        for year in YEARS:
            if rng.random() < 0.2:
                continue  # not surveyed
            for visit in range(rng.choice([1, 2])):
                event_id = f"{site}-{year}-{visit}"
                events.append({"eventID": event_id, "locationID": site,
                               "eventDate": f"{year}-05-{10 + visit:02d}", "year": year,
                               "samplingEffort": str(rng.choice([20, 40]))})
                measurements.append({"eventID": event_id, "measurementType": "cloud cover",
                                     "measurementValue": str(rng.randint(0, 8))})
                if rng.random() < 0.2:
                    continue  # surveyed, nothing found: no occurrence at all
                for taxon in TAXA:
                    if rng.random() < 0.5:
                        occurrences.append({"eventID": event_id,
                                            "occurrenceID": f"{event_id}:{taxon}",
                                            "scientificName": taxon,
                                            "individualCount": str(rng.randint(0, 6)),
                                            "occurrenceStatus": "present"})
    return EventCore(events, occurrences, measurements)


def write_event_core_archive(path: Path, rows: EventCore) -> Path:
    """Write ``rows`` as a DwC-A (the demo's writer, without eml.xml): an Event core with
    Occurrence and MeasurementOrFact extensions linked only by ``coreid``."""
    return write_event_core_rows(path, rows.events, rows.occurrences, rows.measurements,
                                 with_eml=False)


@dataclass
class CameraTrap:
    """The rows of a Camtrap DP package and its taxonomic list."""

    deployments: list[dict]
    media: list[dict]
    observations: list[dict]
    taxonomic: list[dict]


CAMERA_TAXA = [("Anas platyrhynchos", "species"), ("Vulpes vulpes", "species"),
               ("Martes", "genus"), ("Homo sapiens", "species")]


def camera_trap_rows(seed: int = 9) -> CameraTrap:
    """Deployments at four locations over two years; each event is a burst of images in
    which the same animals are counted again on every image (media-level observations),
    plus humans, blanks and genus-level identifications."""
    rng = random.Random(seed)
    deployments, media, observations = [], [], []
    for number, (location, year) in enumerate(
            [(loc, year) for loc in ("L1", "L2", "L3", "L4") for year in (2021, 2022)]):
        deployment = f"dep{number}"
        start = datetime(year, 4, 1)
        deployments.append({"deploymentID": deployment, "locationID": location,
                            "locationName": f"Station {location}",
                            "latitude": f"{41 + number / 100:.4f}", "longitude": "-3.7000",
                            "deploymentStart": start.isoformat() + "Z",
                            "deploymentEnd": (start + timedelta(days=30)).isoformat() + "Z"})
        for event_number in range(rng.randint(2, 5)):
            event = f"{deployment}-e{event_number}"
            when = start + timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 600))
            kind = rng.choice(["animal", "animal", "animal", "human", "blank"])
            name, _ = rng.choice(CAMERA_TAXA[:3]) if kind == "animal" else (
                ("Homo sapiens", "species") if kind == "human" else (None, None))
            group = rng.randint(1, 4)
            for image in range(rng.randint(2, 6)):
                media_id = f"{event}-m{image}"
                stamp = (when + timedelta(seconds=image)).isoformat() + "Z"
                media.append({"mediaID": media_id, "deploymentID": deployment,
                              "captureMethod": "activityDetection", "timestamp": stamp,
                              "filePath": f"media/{media_id}.jpg", "filePublic": "false",
                              "fileMediatype": "image/jpeg"})
                seen = max(1, group - rng.randint(0, 1)) if name else None
                observations.append({
                    "observationID": f"{media_id}-o", "deploymentID": deployment,
                    "mediaID": media_id, "eventID": event, "eventStart": stamp,
                    "eventEnd": stamp, "observationLevel": "media",
                    "observationType": kind, "scientificName": name or "",
                    "count": str(seen) if seen else ""})
    taxonomic = [{"scientificName": n, "taxonRank": r} for n, r in CAMERA_TAXA]
    return CameraTrap(deployments, media, observations, taxonomic)


def write_camtrap_dp(folder: Path, rows: CameraTrap, zipped: bool = False) -> Path:
    """Write ``rows`` as a Camtrap DP package in ``folder`` (or as ``folder.zip``)."""
    return write_camtrap_rows(folder, rows.deployments, rows.media, rows.observations,
                              rows.taxonomic, name="generated-camera-traps",
                              created="2024-01-01T00:00:00Z", zipped=zipped)
