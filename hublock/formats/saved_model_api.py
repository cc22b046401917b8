"""A SavedModel's API as its loader sees it: each signature's inputs and outputs (name, dtype,
shape), read from ``saved_model.pb`` without TensorFlow, hashed into hub.lock's ``api``.

``saved_model.pb`` is a protobuf (``SavedModel``); the API lives in a small corner of it::

    SavedModel      2: repeated MetaGraphDef meta_graphs
    MetaGraphDef    1: MetaInfoDef meta_info_def (4: repeated string tags)
                    5: map<string, SignatureDef> signature_def
    SignatureDef    1: map<string, TensorInfo> inputs   2: ... outputs   3: string method_name
    TensorInfo      1: string name (internal, changes on every export: not part of the API)
                    2: DataType dtype   3: TensorShapeProto tensor_shape
                    4: CooSparse coo_sparse   5: CompositeTensor composite_tensor
    TensorShapeProto  2: repeated Dim dim (1: int64 size, -1 unknown)   3: bool unknown_rank

The graph itself (often most of the file) is skipped by its length, never parsed. The reader is
total: any bytes give a ModelApi or a SavedModelError, in time linear in their length.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hublock.core import SavedModelError

SAVED_MODEL = "saved_model.pb"
FINGERPRINT = "fingerprint.pb"
_INIT_OP = "__saved_model_init_op"  # not a signature: TensorFlow hides it from .signatures

# tensorflow/core/framework/types.proto, as tf.DType.name spells them
DTYPES = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    7: "string",
    8: "complex64",
    9: "int64",
    10: "bool",
    11: "qint8",
    12: "quint8",
    13: "qint32",
    14: "bfloat16",
    15: "qint16",
    16: "quint16",
    17: "uint16",
    18: "complex128",
    19: "float16",
    20: "resource",
    21: "variant",
    22: "uint32",
    23: "uint64",
    24: "float8_e5m2",
    25: "float8_e4m3fn",
    26: "float8_e4m3fnuz",
    27: "float8_e4m3b11fnuz",
    28: "float8_e5m2fnuz",
    29: "int4",
    30: "uint4",
    31: "int2",
    32: "uint2",
    33: "float4_e2m1fn",
}


@dataclass(frozen=True)
class Tensor:
    """One input or output: its dtype, and its shape (None: unknown rank; a None dimension:
    unknown size). ``kind``: ``dense``, ``sparse`` or ``composite`` (a ragged tensor, say)."""

    dtype: str
    shape: tuple[int | None, ...] | None
    kind: str = "dense"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
        }
        if self.kind != "dense":
            data["kind"] = self.kind
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tensor:
        shape = data.get("shape")
        return cls(
            str(data["dtype"]), None if shape is None else tuple(shape), str(data.get("kind", "dense"))
        )

    def describe(self) -> str:
        return f"{self.dtype} {format_shape(self.shape)}"


@dataclass(frozen=True)
class Signature:
    inputs: dict[str, Tensor]
    outputs: dict[str, Tensor]
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": {k: v.to_dict() for k, v in sorted(self.inputs.items())},
            "outputs": {k: v.to_dict() for k, v in sorted(self.outputs.items())},
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls(
            {k: Tensor.from_dict(v) for k, v in data["inputs"].items()},
            {k: Tensor.from_dict(v) for k, v in data["outputs"].items()},
            str(data.get("method", "")),
        )


@dataclass(frozen=True)
class ModelApi:
    """The signatures of a SavedModel, by key. With several meta graphs (a TF1 hub module's
    tag sets), a key is prefixed by its graph's tags: ``train:default``."""

    signatures: dict[str, Signature]

    def to_dict(self) -> dict[str, Any]:
        return {"signatures": {k: v.to_dict() for k, v in sorted(self.signatures.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelApi:
        return cls({k: Signature.from_dict(v) for k, v in data["signatures"].items()})

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON form: what hub.lock records as ``api``."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def format_shape(shape: tuple[int | None, ...] | None) -> str:
    """As TensorFlow prints a TensorShape: ``(None, 224, 224, 3)``, ``(3,)``, ``()``, ``<unknown>``."""
    if shape is None:
        return "<unknown>"
    dims = ["None" if d is None else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


# -- the protobuf wire format ------------------------------------------------------------------


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise SavedModelError("truncated (a number runs past the end)")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise SavedModelError("malformed (a number longer than 10 bytes)")


def _fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message's fields: a number for varints, a view of
    the bytes for the others."""
    pos = 0
    value: Any
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise SavedModelError("malformed (field number 0)")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise SavedModelError("truncated (a fixed-width field runs past the end)")
            value, pos = data[pos : pos + width], pos + width
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise SavedModelError("truncated (a field runs past the end)")
            value, pos = data[pos : pos + length], pos + length
        else:  # 3, 4: groups, which no SavedModel field uses; 6, 7: undefined
            raise SavedModelError(f"malformed (wire type {wire})")
        yield number, wire, value


def _messages(data: memoryview, number: int) -> Iterator[memoryview]:
    for n, wire, value in _fields(data):
        if n == number:
            if wire != 2:
                raise SavedModelError(f"malformed (field {number} is not a message)")
            yield value


def _text(value: memoryview) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise SavedModelError("malformed (a name is not UTF-8)") from None


def _map_entries(data: memoryview, number: int) -> Iterator[tuple[str, memoryview]]:
    """A ``map<string, Message>`` field: (key, value message) pairs."""
    for entry in _messages(data, number):
        key, value = "", memoryview(b"")
        for n, wire, v in _fields(entry):
            if n == 1 and wire == 2:
                key = _text(v)
            elif n == 2 and wire == 2:
                value = v
        yield key, value


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shape(data: memoryview) -> tuple[int | None, ...] | None:
    dims: list[int | None] = []
    for n, wire, value in _fields(data):
        if n == 3 and wire == 0 and value:
            return None  # unknown rank
        if n == 2 and wire == 2:
            size = -1
            for dn, dwire, dvalue in _fields(value):
                if dn == 1 and dwire == 0:
                    size = _int64(dvalue)
            dims.append(None if size < 0 else size)
    return tuple(dims)


def _tensor(data: memoryview) -> Tensor:
    dtype, kind = 0, "dense"
    shape: tuple[int | None, ...] | None = ()
    shape_seen = False
    for n, wire, value in _fields(data):
        if n == 2 and wire == 0:
            dtype = value
        elif n == 3 and wire == 2:
            shape, shape_seen = _shape(value), True
        elif n == 4 and wire == 2:
            kind = "sparse"
        elif n == 5 and wire == 2:
            kind = "composite"
    if kind == "composite":
        return Tensor("composite", None, kind)
    return Tensor(DTYPES.get(dtype, f"dtype_{dtype}"), shape if shape_seen else None, kind)


def _signature(data: memoryview) -> Signature:
    inputs = {k: _tensor(v) for k, v in _map_entries(data, 1)}
    outputs = {k: _tensor(v) for k, v in _map_entries(data, 2)}
    method = next((_text(v) for n, w, v in _fields(data) if n == 3 and w == 2), "")
    return Signature(inputs, outputs, method)


def parse_saved_model(data: bytes) -> ModelApi:
    """The API of a SavedModel from the bytes of its ``saved_model.pb``."""
    view = memoryview(data)
    graphs = []
    for graph in _messages(view, 2):
        tags: list[str] = []
        for info in _messages(graph, 1):
            tags += [_text(v) for n, w, v in _fields(info) if n == 4 and w == 2]
        signatures = {k: _signature(v) for k, v in _map_entries(graph, 5) if not k.startswith(_INIT_OP)}
        graphs.append((",".join(sorted(tags)), signatures))
    if not graphs:
        raise SavedModelError("no meta graph in it (not a SavedModel)")
    if len(graphs) == 1:
        return ModelApi(graphs[0][1])
    return ModelApi({f"{tags}:{key}": sig for tags, sigs in graphs for key, sig in sigs.items()})


def parse_fingerprint(data: bytes) -> int:
    """TensorFlow's ``signature_def_hash`` from the bytes of ``fingerprint.pb`` (FingerprintDef 3)."""
    for n, wire, value in _fields(memoryview(data)):
        if n == 3 and wire == 0:
            return int(value)
    raise SavedModelError("fingerprint.pb has no signature_def_hash")


# -- changes, in words -------------------------------------------------------------------------


def api_changes(old: ModelApi, new: ModelApi) -> list[str]:
    """What a user of ``old`` must know about ``new``: ``signature 'serving_default': input
    'images' shape (None, 224, 224, 3) -> (None, 256, 256, 3)``, ``signature 'tokenize' removed``."""
    out = []
    for key in sorted(old.signatures.keys() | new.signatures.keys()):
        a, b = old.signatures.get(key), new.signatures.get(key)
        if b is None:
            out.append(f"signature {key!r} removed")
            continue
        if a is None:
            out.append(f"signature {key!r} added")
            continue
        for side, before, after in (("input", a.inputs, b.inputs), ("output", a.outputs, b.outputs)):
            for name in sorted(before.keys() | after.keys()):
                x, y = before.get(name), after.get(name)
                where = f"signature {key!r}: {side} {name!r}"
                if y is None:
                    out.append(f"{where} removed")
                elif x is None:
                    out.append(f"{where} added ({y.describe()})")
                else:
                    if x.dtype != y.dtype:
                        out.append(f"{where} dtype {x.dtype} -> {y.dtype}")
                    if x.shape != y.shape:
                        out.append(f"{where} shape {format_shape(x.shape)} -> {format_shape(y.shape)}")
                    if x.kind != y.kind:
                        out.append(f"{where} {x.kind} -> {y.kind}")
        if a.method != b.method:
            out.append(f"signature {key!r}: method {a.method} -> {b.method}")
    return out
