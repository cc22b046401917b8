"""hublock's exceptions: one tree, each error carrying what a person (or a CI script reading
``--format json``) needs to act on it.

    HublockError                 exit 2 unless a subclass says otherwise
    ├── ManifestError            hub.toml is unreadable, malformed or asks for something unknown
    ├── LockfileError            hub.lock is unreadable, malformed, or from a newer hublock
    ├── NotInSyncError           exit 1: the lock is stale, or the cache would change
    ├── FetchError               exit 3: a handle or URL could not be downloaded
    ├── IntegrityError           exit 3: bytes differ from what hub.lock recorded
    │   ├── UnsafeArchiveError   exit 3: the archive tries to write outside its directory, links...
    │   └── BundleError          exit 3: a bundle that is damaged, truncated, tampered with, or none
    ├── CacheError               exit 4: the cache directory cannot be written (full disk, permissions)
    │   └── DiskFullError        exit 4: no space left, with the space the models need
    ├── SavedModelError          saved_model.pb or fingerprint.pb is malformed (read without TensorFlow)
    ├── SignatureError           exit 5: not signed as hub.toml's [[trust]] requires: unsigned, another
    │                            signer, files other than the signed ones, an unreadable signature
    └── ModelErrors              several models failed: every error, and the most severe exit code

Secrets in URLs (userinfo, signatures, tokens) are redacted in the message and in ``to_dict``.
Every error has the same fields (``model``, ``handle``, ``path``, ``expected``, ``actual``,
``hint``), builds its message from them, and serialises itself (``to_dict``). Context learnt
further up (which model a download was for) is added with ``about()``, never glued onto the text.
The CLI maps ``exit_code`` to the process exit status; the library only raises.
"""

from __future__ import annotations

from typing import Any, Self

from hublock.core.redaction import redact


class HublockError(Exception):
    """Base class of every error hublock raises on purpose."""

    exit_code: int = 2
    severity: int = 2
    """Which error decides the exit code when several models fail: the highest. Integrity beats
    a broken cache beats a failed download beats bad input beats "not in sync"."""

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        handle: str | None = None,
        path: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model = model
        self.handle = handle
        self.path = path
        self.expected = expected
        self.actual = actual
        self.hint = hint

    def about(self, *, model: str | None = None, handle: str | None = None) -> Self:
        """Add what the caller knows (the model the failing work was for); fields already set win."""
        self.model = self.model or model
        self.handle = self.handle or handle
        return self

    def __str__(self) -> str:
        text = self.message
        if self.expected is not None and self.actual is not None:
            text += f": expected {self.expected}, got {self.actual}"
        if self.hint:
            text += f"; {self.hint}"
        return redact(f"{self.model}: {text}" if self.model else text)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (fields, subclass state): a worker process sends it back as it is."""
        return (_restore, (type(self), self.__dict__.copy()))

    def to_dict(self) -> dict[str, Any]:
        """The error as ``--format json`` reports it (secrets in URLs redacted, as in the message)."""
        fields = {
            "model": self.model,
            "handle": self.handle,
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "hint": self.hint,
        }
        return {
            "type": type(self).__name__,
            "message": str(self),
            "exit_code": self.exit_code,
            **{k: redact(v) if v is not None else None for k, v in fields.items()},
        }


class ManifestError(HublockError):
    """hub.toml cannot be read, is not valid TOML, or does not follow hublock's schema."""


class LockfileError(HublockError):
    """hub.lock cannot be read, is malformed, or was written by a newer hublock."""


class NotInSyncError(HublockError):
    """The lock does not match the manifest, or the cache does not match the lock."""

    exit_code = 1
    severity = 1


class FetchError(HublockError):
    """A model archive could not be downloaded (HTTP error, network failure, missing file).
    ``status``: the HTTP status when the host answered with one (404 and 410: it says the model,
    or this version of it, does not exist; ``hublock audit`` calls that ``gone``)."""

    exit_code = 3
    severity = 3

    def __init__(self, message: str, *, status: int | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.status = status

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)


class IntegrityError(HublockError):
    """Downloaded or cached bytes differ from the digests recorded in hub.lock."""

    exit_code = 3
    severity = 5


class SignatureError(HublockError):
    """A model's signature is not what the trust policy asks for: missing where one is required,
    made by another signer, over other files than the model's, or unreadable. Its own exit code:
    the bytes may well be the ones published, but not by whom the project trusts."""

    exit_code = 5
    severity = 6


class UnsafeArchiveError(IntegrityError):
    """An archive holds a member that could escape its directory or is not a plain file."""


class BundleError(IntegrityError):
    """A bundle (``hublock bundle``) that is not one, or is damaged: truncated, tampered with."""


class CacheError(HublockError):
    """The cache (or download cache) cannot be written: full disk, permissions, a broken mount."""

    exit_code = 4
    severity = 4


class DiskFullError(CacheError):
    """No space left while unpacking a model: says how much its files need (``needed``, None when
    hub.lock does not record it) and, once the sync knows it, what every model it had still to
    publish needs (``left``)."""

    def __init__(
        self, message: str, *, path: str, needed: int | None, archive: int, left: int | None = None
    ) -> None:
        self.needed, self.archive, self.left = needed, archive, left
        super().__init__(message, path=path, hint=self._advice())

    def _advice(self) -> str:
        if self.needed is None:
            need = (
                f"free at least {_megabytes(2 * self.archive)} there (the archive is "
                f"{_megabytes(self.archive)}; this hub.lock does not record how large it unpacks)"
            )
        else:
            need = f"free at least {_megabytes(self.needed)} there (what the model's files take)"
        if self.left is not None and self.left > (self.needed or 0):
            need += (
                f"; the models this sync had still to publish take {_megabytes(self.left)} in all, "
                "less what it published before the disk filled"
            )
        return need + ", then run `hublock sync` again"

    def with_left(self, left: int) -> DiskFullError:
        """The same error, also naming what the whole sync needed."""
        self.left = left
        self.hint = self._advice()
        return self


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB ({n:,} bytes)"


class SavedModelError(HublockError):
    """``saved_model.pb`` (or ``fingerprint.pb``) is malformed: its API cannot be read."""


class ModelErrors(HublockError):
    """Several models failed. ``errors`` holds each one; the exit code is the most severe one's."""

    def __init__(self, errors: tuple[HublockError, ...], total: int) -> None:
        self.errors = errors
        worst = max(errors, key=lambda e: e.severity)
        self.exit_code = worst.exit_code
        self.severity = worst.severity
        lines = "\n  ".join(str(e).replace("\n", "\n    ") for e in errors)
        super().__init__(f"{len(errors)} of {total} models failed:\n  {lines}")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "errors": [e.to_dict() for e in self.errors]}


def _restore(cls: type[HublockError], state: dict[str, Any]) -> HublockError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error
