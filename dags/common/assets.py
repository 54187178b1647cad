"""The raw tables as Airflow Assets: written by fp_ingest, they schedule fp_transform."""

from airflow.sdk import Asset

from include.contract.registry import SOURCES

RAW_TABLE_ASSETS = [Asset(name=f"raw.{s.code}", uri=f"postgres://warehouse/fpwh/raw/{s.code}") for s in SOURCES]
