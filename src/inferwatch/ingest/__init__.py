"""The IoT-gateway side path: pull records from a data lake and score them through the service.

- ``HttpDataSource`` reads pages of records from a data-lake HTTP endpoint.
- ``IngestionWorker`` polls a source, sends what it gets to the service's ``/predict`` and
  measures the source (``inferwatch_source_*`` metrics).
- ``datalake`` is a small data lake that serves example rows, with faults you can switch on,
  for the demo and the tests.
"""

from __future__ import annotations

from inferwatch.ingest.source import DataSource, HttpDataSource, Page, SourceMetrics
from inferwatch.ingest.worker import IngestionWorker, IngestStats

__all__ = [
    "DataSource",
    "HttpDataSource",
    "IngestStats",
    "IngestionWorker",
    "Page",
    "SourceMetrics",
]
