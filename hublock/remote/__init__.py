"""Everything that crosses the network, from the top down: getting a model's archive from wherever
it is (``fetcher``); one HTTP download with redirects, retries and resumes (``download``); the
Kaggle API (``kaggle_api``); the HTTP stack and its one retry rule (``http``); and, pure, where a
model's bytes may come from (``urls``). Other wings import what they use from here."""

from hublock.remote.fetcher import (
    API_FILES,
    ArchiveStream,
    Download,
    Fetcher,
    HashedArchive,
    content_sources,
    prepare_network,
)
from hublock.remote.hf_api import FILES_AT_ONCE, HubFile, file_sources
from hublock.remote.urls import (
    apply_mirror,
    is_signed,
    model_sources,
    portable_url,
    source_url,
    with_format_query,
)

__all__ = [
    "API_FILES",
    "FILES_AT_ONCE",
    "ArchiveStream",
    "Download",
    "Fetcher",
    "HashedArchive",
    "HubFile",
    "apply_mirror",
    "content_sources",
    "file_sources",
    "is_signed",
    "model_sources",
    "portable_url",
    "prepare_network",
    "source_url",
    "with_format_query",
]
