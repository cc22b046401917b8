"""Where models go: the ``Cache`` protocol and the cache choices, the layout each loader reads,
stamps and inspections, cache roots, and each cache (tensorflow_hub's directory, kagglehub's, a
bucket) with the download cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hublock.core.lazy import exports

if TYPE_CHECKING:
    from hublock.caches.base import (
        LOADER_CACHES,
        Cache,
        CacheChoice,
        choose_cache,
        choose_hf_cache,
        choose_kaggle_cache,
        open_cache,
    )
    from hublock.caches.bucket import (
        check_remote,
        hash_objects,
        holds_local_file,
        object_checksum,
        remote_objects,
    )
    from hublock.caches.downloads import (
        ArchiveWriter,
        DownloadCache,
    )
    from hublock.caches.huggingface import (
        HuggingfaceCache,
    )
    from hublock.caches.inspection import (
        Inspection,
        State,
    )
    from hublock.caches.layout import (
        HUGGINGFACE,
        KAGGLEHUB,
        LOCK_TIMEOUT_SEC,
        TFHUB,
        Entry,
        Kind,
        Layout,
        owner_is_dead,
    )
    from hublock.caches.roots import (
        Root,
        RootModel,
        live_roots,
        read_lock_or_none,
    )

# What other wings use, and the module that defines it: imported on first use (core.lazy).
_WHERE: dict[str, str] = {
    "ArchiveWriter": "hublock.caches.downloads",
    "Cache": "hublock.caches.base",
    "CacheChoice": "hublock.caches.base",
    "DownloadCache": "hublock.caches.downloads",
    "Entry": "hublock.caches.layout",
    "HUGGINGFACE": "hublock.caches.layout",
    "HuggingfaceCache": "hublock.caches.huggingface",
    "Inspection": "hublock.caches.inspection",
    "KAGGLEHUB": "hublock.caches.layout",
    "Kind": "hublock.caches.layout",
    "LOADER_CACHES": "hublock.caches.base",
    "LOCK_TIMEOUT_SEC": "hublock.caches.layout",
    "Layout": "hublock.caches.layout",
    "Root": "hublock.caches.roots",
    "RootModel": "hublock.caches.roots",
    "State": "hublock.caches.inspection",
    "TFHUB": "hublock.caches.layout",
    "check_remote": "hublock.caches.bucket",
    "choose_cache": "hublock.caches.base",
    "choose_hf_cache": "hublock.caches.base",
    "choose_kaggle_cache": "hublock.caches.base",
    "hash_objects": "hublock.caches.bucket",
    "holds_local_file": "hublock.caches.bucket",
    "live_roots": "hublock.caches.roots",
    "object_checksum": "hublock.caches.bucket",
    "open_cache": "hublock.caches.base",
    "owner_is_dead": "hublock.caches.layout",
    "read_lock_or_none": "hublock.caches.roots",
    "remote_objects": "hublock.caches.bucket",
}
__getattr__, __dir__ = exports(__name__, _WHERE)


__all__ = [
    "HUGGINGFACE",
    "KAGGLEHUB",
    "LOADER_CACHES",
    "LOCK_TIMEOUT_SEC",
    "TFHUB",
    "ArchiveWriter",
    "Cache",
    "CacheChoice",
    "DownloadCache",
    "Entry",
    "HuggingfaceCache",
    "Inspection",
    "Kind",
    "Layout",
    "Root",
    "RootModel",
    "State",
    "check_remote",
    "choose_cache",
    "choose_hf_cache",
    "choose_kaggle_cache",
    "hash_objects",
    "holds_local_file",
    "live_roots",
    "object_checksum",
    "open_cache",
    "owner_is_dead",
    "read_lock_or_none",
    "remote_objects",
]
