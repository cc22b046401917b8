"""Signed models for the tests: keys and certificate chains made with ``cryptography``, models
signed with the real ``model-signing`` library as a publisher would (its CLI's hashing config:
the signature file itself ignored), packed as the fake hubs serve them."""

from __future__ import annotations

import datetime
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.world.savedmodels import pack, write_tree


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path


def make_key(folder: Path, name: str) -> Key:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Key(private, public)


@dataclass(frozen=True)
class Chain:
    """A root CA (``root``, the file a [[trust]] rule names) and a signing certificate it issued."""

    root: Path
    leaf: Path
    leaf_key: Path


def make_chain(folder: Path, name: str, *, expired: bool = False) -> Chain:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} root CA")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=20) if expired else now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} model release")]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .sign(root_key, hashes.SHA256())
    )
    paths = Chain(folder / f"{name}-root.pem", folder / f"{name}-leaf.pem", folder / f"{name}-leaf.key")
    paths.root.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    paths.leaf.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.leaf_key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def sign_tree(model_dir: Path, *, key: Key | None = None, chain: Chain | None = None) -> None:
    """Sign ``model_dir`` in place (``model.sig`` beside its files), as ``model_signing sign key``
    or ``... certificate`` does."""
    import model_signing

    config = model_signing.signing.Config()
    if key is not None:
        config.use_elliptic_key_signer(private_key=key.private)
    else:
        assert chain is not None
        config.use_certificate_signer(
            private_key=chain.leaf_key, signing_certificate=chain.leaf, certificate_chain=[chain.root]
        )
    config.set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
    config.sign(model_dir, model_dir / "model.sig")


def sign_detached(model_dir: Path, signature: Path, *, key: Key) -> None:
    """Sign ``model_dir`` with the signature written apart from it (``model_signing sign key
    ... --signature elsewhere.sig``)."""
    import model_signing

    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key.private)
    config.sign(model_dir, signature)


def signed_archive(
    folder: Path,
    files: dict[str, bytes],
    *,
    key: Key | None = None,
    chain: Chain | None = None,
    after: dict[str, bytes] | None = None,
    drop: str | None = None,
) -> bytes:
    """A tar.gz of ``files`` signed with ``key`` or ``chain``; ``after``: files written (added or
    changed) once it is signed; ``drop``: a signed file removed after signing."""
    tree = folder / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    write_tree(files, tree)
    sign_tree(tree, key=key, chain=chain)
    write_tree(after or {}, tree)
    if drop:
        (tree / drop).unlink()
    pack(tree, folder / "model.tar.gz")
    return (folder / "model.tar.gz").read_bytes()
