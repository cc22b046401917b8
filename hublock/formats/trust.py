"""hub.toml's ``[[trust]]`` rules: who may have signed which models, and whether they must be.

    [[trust]]
    handles = "https://www.kaggle.com/models/acme/"   # a handle prefix; or models = ["bert"]
    key = "keys/acme.pub"          # or certificate_chain = ["ca.pem"], or identity + issuer
    require = "signed"             # default "if-signed": checked when the model carries one

A model follows one rule: the one naming it, else the one with the longest matching handle
prefix, else the one with neither (every model). Paths are relative to hub.toml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hublock.core import ManifestError, strip_secrets
from hublock.formats.signature import SIGNATURE_FILE

REQUIRE = ("signed", "if-signed")
_KEYS = (
    "models",
    "handles",
    "key",
    "certificate_chain",
    "identity",
    "issuer",
    "require",
    "signature",
    "detached",
)


@dataclass(frozen=True)
class TrustRule:
    """One ``[[trust]]`` table: whose signature the models it covers carry."""

    models: tuple[str, ...] = ()
    handles: str | None = None
    key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity: str | None = None
    issuer: str | None = None
    require: str = "if-signed"
    signature: str = SIGNATURE_FILE
    """The signature's path inside the model."""
    detached: str | None = None
    """Where the signature is kept apart from the model instead (a URL or a path relative to
    hub.toml, ``{name}`` standing for the model's name), as hub.toml spells it."""
    base: Path = Path()
    """hub.toml's folder, which relative paths are taken from."""
    written: str = ""
    """The rule's signer and requirement as hub.toml spells them (paths as written, not as
    resolved on this machine): part of each covered model's entry digest, so that a model is
    locked again when the rule covering it changes."""

    @property
    def method(self) -> str:
        """ "key", "certificate" or "sigstore": how the signer is named."""
        return "key" if self.key else "certificate" if self.certificate_chain else "sigstore"

    @property
    def expected(self) -> str:
        """The signer, as messages say it."""
        if self.key:
            return f"a signature by the key {self.key.name}"
        if self.certificate_chain:
            chain = ", ".join(p.name for p in self.certificate_chain)
            return f"a signature by a certificate of the chain {chain}"
        return f"a Sigstore signature by {self.identity} (issuer {self.issuer})"

    def detached_at(self, name: str) -> tuple[str, str] | None:
        """A detached signature's location for model ``name``: as hub.toml spells it, without
        the credentials a URL may carry (what hub.lock records and messages show), and where to
        read it on this machine. None: it is inside the model."""
        if self.detached is None:
            return None
        written = self.detached.replace("{name}", name)
        if "://" in written:
            return strip_secrets(written), written
        path = Path(written).expanduser()
        return written, str(path if path.is_absolute() else self.base / path)

    @property
    def scope(self) -> str:
        if self.models:
            return f"models {', '.join(self.models)}"
        return f"handles {self.handles}*" if self.handles else "every model"


def parse_trust(value: Any, source: str, base: Path, names: set[str]) -> tuple[TrustRule, ...]:
    """The ``[[trust]]`` array of tables, checked: each names one signer, known models, and
    paths that exist."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ManifestError(f"{source}: 'trust' must be [[trust]] tables")
    rules: list[TrustRule] = []
    for i, table in enumerate(value):
        where = f"{source}: trust[{i}]"
        if not isinstance(table, dict):
            raise ManifestError(f"{where}: expected a table")
        for key in table:
            if key not in _KEYS:
                raise ManifestError(f"{where}: unknown key {key!r} (expected one of: {', '.join(_KEYS)})")
        models = _strings(table, "models", f"{where}.models: expected a list of model names")
        if unknown := sorted(set(models) - names):
            raise ManifestError(f"{where}.models: {unknown[0]!r} is not in [models]")
        handles = table.get("handles")
        if handles is not None and (not isinstance(handles, str) or not handles):
            raise ManifestError(
                f'{where}.handles: expected a handle prefix, e.g. "https://tfhub.dev/google/"'
            )
        if models and handles:
            raise ManifestError(f"{where}: name 'models' or 'handles', not both")
        require = table.get("require", "if-signed")
        if require not in REQUIRE:
            raise ManifestError(f"{where}.require: expected one of {', '.join(map(repr, REQUIRE))}")
        signature = table.get("signature", SIGNATURE_FILE)
        if not isinstance(signature, str) or not signature or signature.startswith("/") or ".." in signature:
            raise ManifestError(f'{where}.signature: expected a path inside the model, e.g. "model.sig"')
        detached = table.get("detached")
        if detached is not None and (not isinstance(detached, str) or "{name}" not in detached):
            raise ManifestError(
                f"{where}.detached: expected where each model's signature is kept apart from it, with "
                '{name} for the model\'s name, e.g. "signatures/{name}.sig" or "https://.../{name}.sig"'
            )
        if detached is not None and "signature" in table:
            raise ManifestError(f"{where}: name 'signature' (inside the model) or 'detached', not both")
        chain = _strings(
            table, "certificate_chain", f"{where}.certificate_chain: expected a list of PEM files"
        )
        signers = [bool(table.get("key")), bool(chain), "identity" in table or "issuer" in table]
        if sum(signers) != 1:
            raise ManifestError(
                f'{where}: name one signer: key = "key.pub", certificate_chain = ["ca.pem"], '
                'or identity = "..." with issuer = "..." (Sigstore)'
            )
        if signers[2] and not (
            isinstance(table.get("identity"), str) and isinstance(table.get("issuer"), str)
        ):
            raise ManifestError(f"{where}: a Sigstore signer needs both identity and issuer")
        key = _path(table["key"], f"{where}.key", base) if table.get("key") else None
        rules.append(
            TrustRule(
                models=tuple(models),
                handles=handles,
                key=key,
                certificate_chain=tuple(_path(c, f"{where}.certificate_chain", base) for c in chain),
                identity=table.get("identity"),
                issuer=table.get("issuer"),
                require=require,
                signature=signature,
                detached=detached,
                base=base,
                written=json.dumps(
                    {
                        k: table[k]
                        for k in ("key", "certificate_chain", "identity", "issuer", "detached")
                        if k in table
                    }
                    | {"require": require, "signature": signature},
                    sort_keys=True,
                ),
            )
        )
    _check_overlaps(rules, source)
    return tuple(rules)


def _strings(table: dict[str, Any], key: str, error: str) -> list[str]:
    """A list of strings, or one string standing for a list of one."""
    value = table.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(error)
    return value


def _path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{where}: expected a file path (relative to hub.toml)")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _check_overlaps(rules: list[TrustRule], source: str) -> None:
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        keys = [f"model {m}" for m in rule.models] or [
            f"handles {rule.handles}" if rule.handles else "every model"
        ]
        for key in keys:
            if key in seen:
                raise ManifestError(
                    f"{source}: trust[{seen[key]}] and trust[{i}] both cover {key}: a model follows one rule"
                )
            seen[key] = i


def rule_for(rules: tuple[TrustRule, ...], name: str, handles: tuple[str, ...]) -> TrustRule | None:
    """The rule a model follows: the one naming it, else the longest handle prefix that matches
    one of its handles (hub.toml's spelling, and its ``kaggle://`` one), else the one for every
    model; None without one."""
    for rule in rules:
        if name in rule.models:
            return rule
    matching = [r for r in rules if r.handles and any(h.startswith(r.handles) for h in handles)]
    if matching:
        return max(matching, key=lambda r: len(r.handles or ""))
    return next((r for r in rules if not r.models and not r.handles), None)
