"""Normalisation: event attributes to rule (Sigma) fields, declared per logsource category."""

from watchkeeper.normalize.sigma_fields import (
    CATEGORY_ALIASES,
    CATEGORY_FIELDS,
    SigmaField,
    canonical_category,
    event_to_sigma,
    field_reader,
    resolve_field,
)

__all__ = [
    "CATEGORY_ALIASES",
    "CATEGORY_FIELDS",
    "SigmaField",
    "canonical_category",
    "event_to_sigma",
    "field_reader",
    "resolve_field",
]
