"""Generated monitoring packages for the demo: an event-core Darwin Core Archive and a
Camtrap DP package, shaped as GBIF and camera-trap platforms publish them.

Seeded, so the same seed writes the same bytes. The event core has what makes effort
matter: site/years never surveyed, and surveys that found nothing (no occurrence row at
all). The camera-trap package has what makes a naive sum wrong: observations recorded
per image (the same animals counted on every image of a burst), humans, blanks and
genus-level identifications.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

DWC = "http://rs.tdwg.org/dwc/terms/"
WOODLAND_TAXA = ["Parus major", "Cyanistes caeruleus", "Erithacus rubecula", "Turdus merula",
                 "Fringilla coelebs", "Sitta europaea", "Certhia brachydactyla",
                 "Dendrocopos major"]
CAMERA_TAXA = [("Sus scrofa", "species"), ("Vulpes vulpes", "species"),
               ("Capreolus capreolus", "species"), ("Meles meles", "species"),
               ("Martes", "genus"), ("Homo sapiens", "species")]
EML = """<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="https://eml.ecoinformatics.org/eml-2.1.1" packageId="demo-woodland"
 system="http://gbif.org">
<dataset>
 <title>Woodland bird point counts (generated demo data)</title>
 <intellectualRights><para>This work is licensed under a <ulink
 url="http://creativecommons.org/licenses/by/4.0/legalcode"><citetitle>Creative Commons
 Attribution (CC-BY) 4.0 License</citetitle></ulink>.</para></intellectualRights>
</dataset>
</eml:eml>
"""


def _table(rows: list[dict], fields: list[str], separator: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, delimiter=separator,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _meta() -> bytes:
    def fields(names: list[str]) -> str:
        return "".join(f'<field index="{i + 1}" term="{DWC}{name}"/>'
                       for i, name in enumerate(names))

    extension = ('<extension rowType="{row}" fieldsTerminatedBy="\\t" ignoreHeaderLines="1" '
                 'fieldsEnclosedBy=""><files><location>{file}</location></files>'
                 '<coreid index="0"/>{fields}</extension>\n')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f'<core rowType="{DWC}Event" fieldsTerminatedBy="\\t" ignoreHeaderLines="1" '
        'fieldsEnclosedBy=""><files><location>event.txt</location></files>'
        f'<id index="0"/><field index="0" term="{DWC}eventID"/>'
        f'{fields(["locationID", "eventDate", "year", "samplingEffort"])}</core>\n'
        + extension.format(row=f"{DWC}Occurrence", file="occurrence.txt",
                           fields=fields(["occurrenceID", "scientificName", "individualCount",
                                          "occurrenceStatus"]))
        + extension.format(row=f"{DWC}MeasurementOrFact", file="measurementorfact.txt",
                           fields=fields(["measurementType", "measurementValue"]))
        + '</archive>\n'
    ).encode()


def write_event_core_archive(path: Path, *, seed: int = 21, sites: int = 12,
                             years: range = range(2016, 2026)) -> Path:
    """Write an event-core DwC-A (events, occurrences, measurements; EML with a licence).

    About one site/year in six is not surveyed; about one survey in eight finds nothing
    and has no occurrence row. Each surveyed site/year has one or two visits.
    """
    rng = random.Random(seed)
    events, occurrences, measurements = [], [], []
    for site in range(1, sites + 1):
        location = f"W{site:02d}"
        for year in years:
            if rng.random() < 0.17:
                continue  # not surveyed this year
            for visit in range(rng.choice([1, 2])):
                event_id = f"{location}-{year}-{visit + 1}"
                events.append({"eventID": event_id, "locationID": location,
                               "eventDate": f"{year}-05-{8 + 7 * visit:02d}", "year": str(year),
                               "samplingEffort": str(rng.choice([10, 20]))})
                measurements.append({"eventID": event_id, "measurementType": "cloud cover",
                                     "measurementValue": str(rng.randint(0, 8))})
                if rng.random() < 0.12:
                    continue  # surveyed, nothing found
                for taxon in WOODLAND_TAXA:
                    if rng.random() < 0.45:
                        occurrences.append({
                            "eventID": event_id, "occurrenceID": f"{event_id}:{taxon}",
                            "scientificName": taxon,
                            "individualCount": str(1 + int(rng.expovariate(0.6))),
                            "occurrenceStatus": "present"})
    return write_event_core_rows(path, events, occurrences, measurements)


def write_event_core_rows(path: Path, events: list[dict], occurrences: list[dict],
                          measurements: list[dict], with_eml: bool = True) -> Path:
    """Write rows as an event-core DwC-A: a tab-separated Event core with Occurrence and
    MeasurementOrFact extensions linked by ``coreid`` (the extensions' own eventID column
    is not declared: the link is only the coreid); ``eml.xml`` (with a licence) optional.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.xml", _meta())
        if with_eml:
            archive.writestr("eml.xml", EML)
        archive.writestr("event.txt", _table(
            events, ["eventID", "locationID", "eventDate", "year", "samplingEffort"], "\t"))
        archive.writestr("occurrence.txt", _table(
            occurrences, ["eventID", "occurrenceID", "scientificName", "individualCount",
                          "occurrenceStatus"], "\t"))
        archive.writestr("measurementorfact.txt", _table(
            measurements, ["eventID", "measurementType", "measurementValue"], "\t"))
    return path


def _camera_rows(rng: random.Random, stations: int, years: tuple[int, ...]):
    deployments, media, observations = [], [], []
    for number, (station, year) in enumerate(
            [(s, y) for s in range(1, stations + 1) for y in years]):
        deployment, start = f"dep{number:03d}", datetime(year, 3, 1)
        deployments.append({"deploymentID": deployment, "locationID": f"C{station:02d}",
                            "locationName": f"Station {station}",
                            "latitude": f"{40.8 + station / 50:.4f}", "longitude": "-4.0100",
                            "deploymentStart": start.isoformat() + "Z",
                            "deploymentEnd": (start + timedelta(days=60)).isoformat() + "Z"})
        for event_number in range(rng.randint(4, 10)):
            event = f"{deployment}-e{event_number:02d}"
            when = start + timedelta(days=rng.randint(0, 59), minutes=rng.randint(0, 1400))
            kind = rng.choice(["animal"] * 4 + ["human", "blank"])
            name = (rng.choice(CAMERA_TAXA[:5])[0] if kind == "animal"
                    else "Homo sapiens" if kind == "human" else "")
            group = rng.randint(1, 5)
            for image in range(rng.randint(3, 8)):
                media_id = f"{event}-m{image}"
                stamp = (when + timedelta(seconds=2 * image)).isoformat() + "Z"
                media.append({"mediaID": media_id, "deploymentID": deployment,
                              "captureMethod": "activityDetection", "timestamp": stamp,
                              "filePath": f"media/{media_id}.jpg", "filePublic": "false",
                              "fileMediatype": "image/jpeg"})
                seen = max(1, group - rng.randint(0, 2)) if name else None
                observations.append({
                    "observationID": f"{media_id}-o", "deploymentID": deployment,
                    "mediaID": media_id, "eventID": event, "eventStart": stamp,
                    "eventEnd": stamp, "observationLevel": "media", "observationType": kind,
                    "scientificName": name, "count": str(seen) if seen else ""})
    return deployments, media, observations


def write_camtrap_package(folder: Path, *, seed: int = 31, stations: int = 8,
                          years: tuple[int, ...] = (2023, 2024, 2025)) -> Path:
    """Write a Camtrap DP package (deployments, media, observations, taxonomic list,
    a CC-BY-4.0 licence) into ``folder``; return its datapackage.json."""
    deployments, media, observations = _camera_rows(random.Random(seed), stations, years)
    taxonomic = [{"scientificName": name, "taxonRank": rank} for name, rank in CAMERA_TAXA]
    return write_camtrap_rows(folder, deployments, media, observations, taxonomic,
                              name="demo-camera-traps", created="2025-06-01T00:00:00Z")


def write_camtrap_rows(folder: Path, deployments: list[dict], media: list[dict],
                       observations: list[dict], taxonomic: list[dict], *, name: str,
                       created: str, zipped: bool = False) -> Path:
    """Write rows as a Camtrap DP package (CC-BY-4.0) in ``folder``.

    Returns:
        The package's datapackage.json; with ``zipped``, ``folder.zip`` instead, holding
        the package in a ``package/`` folder.
    """
    files = {"deployments.csv": _table(deployments, list(deployments[0])),
             "media.csv": _table(media, list(media[0])),
             "observations.csv": _table(observations, list(observations[0]))}
    descriptor = {
        "profile": "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/"
                   "camtrap-dp-profile.json",
        "name": name, "created": created,
        "licenses": [{"name": "CC-BY-4.0", "scope": "data"}],
        "taxonomic": taxonomic,
        "resources": [{"name": Path(file).stem, "path": file,
                       "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8"} for file in files],
    }
    files["datapackage.json"] = (json.dumps(descriptor, indent=1) + "\n").encode()
    if zipped:
        target = folder.with_suffix(".zip")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for file, data in files.items():
                archive.writestr(f"package/{file}", data)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in files.items():
        (folder / file).write_bytes(data)
    return folder / "datapackage.json"
