"""Exporters: OCSF, STIX, MISP, reports."""
