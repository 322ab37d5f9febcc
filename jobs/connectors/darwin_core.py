"""Darwin Core terms: column names from term URIs, and a check that a table is Darwin Core."""

from __future__ import annotations

import polars as pl

from jobs.steps.base import StepError

# Darwin Core (dwc:) and Dublin Core (dcterms:) terms used in occurrence and event tables.
DARWIN_CORE_TERMS = frozenset(
    """
    type modified language license rightsHolder accessRights bibliographicCitation references
    institutionID collectionID datasetID institutionCode collectionCode datasetName
    ownerInstitutionCode basisOfRecord informationWithheld dataGeneralizations dynamicProperties
    occurrenceID catalogNumber recordNumber recordedBy recordedByID individualCount
    organismQuantity organismQuantityType sex lifeStage reproductiveCondition caste behavior
    vitality establishmentMeans degreeOfEstablishment pathway georeferenceVerificationStatus
    occurrenceStatus preparations disposition associatedMedia associatedOccurrences
    associatedReferences associatedSequences associatedTaxa otherCatalogNumbers
    occurrenceRemarks organismID organismName organismScope associatedOrganisms
    previousIdentifications organismRemarks materialEntityID materialSampleID verbatimLabel
    eventID parentEventID eventType fieldNumber eventDate eventTime startDayOfYear endDayOfYear
    year month day verbatimEventDate habitat samplingProtocol sampleSizeValue sampleSizeUnit
    samplingEffort fieldNotes eventRemarks locationID higherGeographyID higherGeography
    continent waterBody islandGroup island country countryCode stateProvince county
    municipality locality verbatimLocality minimumElevationInMeters maximumElevationInMeters
    verbatimElevation verticalDatum minimumDepthInMeters maximumDepthInMeters verbatimDepth
    minimumDistanceAboveSurfaceInMeters maximumDistanceAboveSurfaceInMeters
    locationAccordingTo locationRemarks decimalLatitude decimalLongitude geodeticDatum
    coordinateUncertaintyInMeters coordinatePrecision pointRadiusSpatialFit
    verbatimCoordinates verbatimLatitude verbatimLongitude verbatimCoordinateSystem
    verbatimSRS footprintWKT footprintSRS footprintSpatialFit georeferencedBy
    georeferencedDate georeferenceProtocol georeferenceSources georeferenceRemarks
    geologicalContextID identificationID verbatimIdentification identificationQualifier
    typeStatus identifiedBy identifiedByID dateIdentified identificationReferences
    identificationVerificationStatus identificationRemarks taxonID scientificNameID
    acceptedNameUsageID parentNameUsageID originalNameUsageID nameAccordingToID
    namePublishedInID taxonConceptID scientificName acceptedNameUsage parentNameUsage
    originalNameUsage nameAccordingTo namePublishedIn namePublishedInYear higherClassification
    kingdom phylum class order superfamily family subfamily tribe subtribe genus genericName
    subgenus infragenericEpithet specificEpithet infraspecificEpithet cultivarEpithet
    taxonRank verbatimTaxonRank scientificNameAuthorship vernacularName nomenclaturalCode
    taxonomicStatus nomenclaturalStatus taxonRemarks verbatimScientificName
    measurementID measurementType measurementValue measurementAccuracy measurementUnit
    measurementDeterminedBy measurementDeterminedDate measurementMethod measurementRemarks
    relationshipOfResource resourceRelationshipID resourceID relatedResourceID
    """.split()
)

# A table with none of these is not an occurrence or event table.
CORE_TERMS = ("occurrenceID", "eventID", "scientificName", "taxonID", "eventDate")


def term_name(term: str) -> str:
    """Return the column name of a term: the last segment of its URI or prefixed name.

    ``http://rs.tdwg.org/dwc/terms/scientificName`` and ``dwc:scientificName`` both
    give ``scientificName``.
    """
    name = term.strip().rstrip("/#")
    for mark in ("/", "#", ":"):
        name = name.rsplit(mark, 1)[-1]
    return name


def normalise_header(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Rename term-URI column names to their term names; refuse resulting duplicates."""
    renamed = {column: term_name(column) for column in frame.columns}
    targets = list(renamed.values())
    duplicates = sorted({target for target in targets if targets.count(target) > 1})
    if duplicates:
        raise StepError(f"{name}: several columns name the same term: {', '.join(duplicates)}")
    return frame.rename(renamed)


def check_darwin_core(frame: pl.DataFrame, name: str) -> list[str]:
    """Refuse a table with no Darwin Core core term; return its non-Darwin-Core columns.

    Args:
        frame: the table with term names as column names.
        name: the source's name, used in the error message.

    Returns:
        The columns that are not Darwin Core or Dublin Core terms (reported, kept).
    """
    if not any(term in frame.columns for term in CORE_TERMS):
        raise StepError(
            f"{name}: not a Darwin Core table: no column named "
            f"{', '.join(CORE_TERMS)} (found: {', '.join(frame.columns[:8])})"
        )
    return [column for column in frame.columns if column not in DARWIN_CORE_TERMS]
