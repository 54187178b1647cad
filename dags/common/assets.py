"""The raw tables as Airflow Assets: written by fp_ingest, they schedule fp_transform.

fp_ingest announces them through one AssetAlias, adding an event only for the raw tables
that received a delivery in the run, so a day with nothing new triggers nothing.
"""

from airflow.sdk import Asset, AssetAlias

from include.contract.registry import SOURCES

RAW_TABLE_ASSET = {s.code: Asset(name=f"raw.{s.code}", uri=f"postgres://warehouse/fpwh/raw/{s.code}") for s in SOURCES}
RAW_TABLE_ASSETS = list(RAW_TABLE_ASSET.values())
RAW_TABLES_LOADED = AssetAlias("fp_raw_tables_loaded")


def announce(outlet_events, source_codes: list[str]) -> None:
    """An Asset event, through the alias, for each raw table that received a delivery."""
    for code in source_codes:
        outlet_events[RAW_TABLES_LOADED].add(RAW_TABLE_ASSET[code])
