"""Every environment variable hublock reads or sets, named once, read when needed (never at
import: a test or a long-lived process may change them between two calls).

``hublock env --all`` prints this table with the current values and where each came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Source = Literal["environment", "default", "unset"]


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, what it does, and the value used when it is unset."""

    name: str
    help: str
    default: str | None = None
    sets: bool = False
    """hublock also sets it (for the processes ``hublock run`` starts, or for a client library)."""
    secret: bool = False
    """Its value is a credential: ``hublock env --all`` shows only whether it is set."""

    def get(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The value in force: the environment's when set and not empty, else the default."""
        value = (os.environ if environ is None else environ).get(self.name, "")
        return value or self.default

    def source(self, environ: Mapping[str, str] | None = None) -> Source:
        if (os.environ if environ is None else environ).get(self.name, ""):
            return "environment"
        return "default" if self.default is not None else "unset"

    def flag(self, environ: Mapping[str, str] | None = None) -> bool:
        """A yes/no variable: ``1``, ``true``, ``yes`` or ``on`` (any case) mean yes."""
        return (self.get(environ) or "").lower() in ("1", "true", "yes", "on")

    def number(self, environ: Mapping[str, str] | None = None) -> float:
        """A number of seconds; a value that is not a number falls back to the default."""
        try:
            return float(self.get(environ) or "")
        except ValueError:
            return float(self.default or 0)


TFHUB_CACHE_DIR = Variable(
    "TFHUB_CACHE_DIR",
    "tensorflow_hub's cache; `sync` fills it when no --cache is given, `hublock run` sets it",
    sets=True,
)
TFHUB_MODEL_LOAD_FORMAT = Variable(
    "TFHUB_MODEL_LOAD_FORMAT",
    "tensorflow_hub's load format (COMPRESSED, UNCOMPRESSED): decides how entries without "
    "`format` are locked",
)
HUBLOCK_DOWNLOAD_CACHE = Variable(
    "HUBLOCK_DOWNLOAD_CACHE",
    "the download cache of verified archives [default: the user cache dir, e.g. ~/.cache/hublock/archives]",
)
HUBLOCK_TIMEOUT = Variable(
    "HUBLOCK_TIMEOUT", "seconds a connection may stay silent before the attempt counts as broken", "30"
)
HUBLOCK_RETRY_BACKOFF = Variable(
    "HUBLOCK_RETRY_BACKOFF",
    "seconds before the first retry of a broken transfer, 429 or 5xx; doubled for each next one",
    "0.5",
)
HUBLOCK_LOCKFILE = Variable(
    "HUBLOCK_LOCKFILE", "the hub.lock `hublock.activate()` reads; set by `hublock run`", "hub.lock", sets=True
)
HUBLOCK_VERIFY = Variable(
    "HUBLOCK_VERIFY", "verify-on-load: fast, full or off; set by `hublock run --verify`", "fast", sets=True
)
HUBLOCK_UNLOCKED = Variable(
    "HUBLOCK_UNLOCKED",
    "what a load of a handle not in hub.lock does: allow, warn or error; set by `hublock run`",
    "allow",
    sets=True,
)
HUBLOCK_OFFLINE = Variable(
    "HUBLOCK_OFFLINE",
    "1: a locked model missing from the cache is an error at load, never fetched; set by `hublock run`",
    sets=True,
)
HUBLOCK_PATH = Variable(
    "HUBLOCK_PATH",
    "set by `hublock run`: where hublock and its dependencies live, for a command whose Python "
    "has no hublock of its own",
    sets=True,
)
NETRC = Variable(
    "NETRC", "the netrc file with credentials for hosts [auth] does not name [default: ~/.netrc]"
)
STORAGE_EMULATOR_HOST = Variable(
    "STORAGE_EMULATOR_HOST", "a GCS emulator's URL; gs:// caches then use anonymous credentials"
)
GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT = Variable(
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT",
    "set to false for gcsfs unless already set: its gRPC client stalls against anything but GCS",
    sets=True,
)

HUBLOCK_PROFILE = Variable(
    "HUBLOCK_PROFILE",
    "a file to which `sync` and `lock` append one JSON line of timings (wall and CPU seconds of "
    "the work, without Python's start-up and imports): what benchmarks/sync.py reads",
)
KAGGLEHUB_CACHE = Variable(
    "KAGGLEHUB_CACHE",
    "kagglehub's cache (keras_hub presets load through it); `sync` fills it for `kaggle` entries "
    "when no --kaggle-cache is given, `hublock run` sets it [default: ~/.cache/kagglehub]",
    sets=True,
)
HUBLOCK_KAGGLE_API = Variable(
    "HUBLOCK_KAGGLE_API",
    "the Kaggle API base URL that `/v1/<service>/<method>` follows [default: as kagglehub's "
    "KAGGLE_API_ENVIRONMENT says, https://api.kaggle.com]",
)
KAGGLE_API_ENVIRONMENT = Variable(
    "KAGGLE_API_ENVIRONMENT", "kagglehub's choice of Kaggle API (PROD, TEST, LOCALHOST, ...)"
)
KAGGLE_API_TOKEN = Variable(
    "KAGGLE_API_TOKEN", "a Kaggle API token (or the path of a file holding one); never printed", secret=True
)
KAGGLE_USERNAME = Variable("KAGGLE_USERNAME", "Kaggle credentials: user name (with KAGGLE_KEY)")
KAGGLE_KEY = Variable(
    "KAGGLE_KEY", "Kaggle credentials: API key (with KAGGLE_USERNAME); never printed", secret=True
)
KAGGLE_CONFIG_DIR = Variable(
    "KAGGLE_CONFIG_DIR", "where kaggle.json (Kaggle credentials) is [default: ~/.kaggle]"
)

HF_HUB_CACHE = Variable(
    "HF_HUB_CACHE",
    "huggingface_hub's cache (keras_hub hf:// presets load through it); `sync` fills it for hf:// "
    "entries when no --hf-cache is given, `hublock run` sets it [default: $HF_HOME/hub, "
    "~/.cache/huggingface/hub]",
    sets=True,
)
HF_HOME = Variable("HF_HOME", "huggingface_hub's home: its cache is HF_HOME/hub, its token HF_HOME/token")
HF_ENDPOINT = Variable(
    "HF_ENDPOINT",
    "the Hugging Face Hub huggingface_hub and hublock talk to [default: https://huggingface.co]",
)
HF_TOKEN = Variable(
    "HF_TOKEN",
    "a Hugging Face token for private or gated repos (else the file `hf auth login` saved); sent "
    "only to the Hub's host, never printed or written",
    secret=True,
)

VARIABLES: tuple[Variable, ...] = (
    TFHUB_CACHE_DIR,
    TFHUB_MODEL_LOAD_FORMAT,
    HUBLOCK_DOWNLOAD_CACHE,
    HUBLOCK_TIMEOUT,
    HUBLOCK_RETRY_BACKOFF,
    HUBLOCK_LOCKFILE,
    HUBLOCK_VERIFY,
    HUBLOCK_UNLOCKED,
    HUBLOCK_OFFLINE,
    HUBLOCK_PATH,
    NETRC,
    STORAGE_EMULATOR_HOST,
    GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT,
    HUBLOCK_PROFILE,
    KAGGLEHUB_CACHE,
    HUBLOCK_KAGGLE_API,
    KAGGLE_API_ENVIRONMENT,
    KAGGLE_API_TOKEN,
    KAGGLE_USERNAME,
    KAGGLE_KEY,
    KAGGLE_CONFIG_DIR,
    HF_HUB_CACHE,
    HF_HOME,
    HF_ENDPOINT,
    HF_TOKEN,
)


@dataclass(frozen=True)
class Setting:
    """A variable as it stands now: what ``hublock env --all`` prints."""

    name: str
    value: str | None
    source: Source
    help: str

    def to_dict(self) -> dict[str, str | None]:
        return {"value": self.value, "source": self.source, "help": self.help}


def settings(environ: Mapping[str, str] | None = None) -> tuple[Setting, ...]:
    """Every variable hublock reads or sets, with its value now and where that came from."""
    return tuple(
        Setting(v.name, "***" if v.secret and v.get(environ) else v.get(environ), v.source(environ), v.help)
        for v in VARIABLES
    )
