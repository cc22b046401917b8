"""A tiny protobuf writer for the test world: ``saved_model.pb`` and ``fingerprint.pb`` with the
signatures a test asks for, made without TensorFlow (the e2e tier checks hublock's reader against
TensorFlow's own on real SavedModels)."""

from __future__ import annotations

DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "string": 7, "int64": 9, "bool": 10, "float16": 19}

Shape = tuple[int | None, ...] | None
Spec = dict[str, tuple[str, Shape]]  # name -> (dtype, shape)


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def message(number: int, body: bytes) -> bytes:
    return key(number, 2) + varint(len(body)) + body


def string(number: int, text: str) -> bytes:
    return message(number, text.encode())


def number(field: int, value: int) -> bytes:
    return key(field, 0) + varint(value)


def tensor_info(name: str, dtype: str, shape: Shape) -> bytes:
    body = string(1, f"serving_{name}:0") + number(2, DT[dtype])
    if shape is None:
        body += message(3, number(3, 1))
    else:
        body += message(3, b"".join(message(2, number(1, -1 if d is None else d)) for d in shape))
    return body


def signature_def(inputs: Spec, outputs: Spec, method: str = "tensorflow/serving/predict") -> bytes:
    body = b"".join(message(1, string(1, k) + message(2, tensor_info(k, *v))) for k, v in inputs.items())
    body += b"".join(message(2, string(1, k) + message(2, tensor_info(k, *v))) for k, v in outputs.items())
    return body + string(3, method)


def saved_model(
    signatures: dict[str, tuple[Spec, Spec]], graph: bytes = b"", tags: tuple[str, ...] = ("serve",)
) -> bytes:
    """A SavedModel with one meta graph: ``graph`` stands for the GraphDef (any bytes: only its
    length is ever read), then the signatures, and the init op TensorFlow adds to every export."""
    meta_info = b"".join(string(4, t) for t in tags)
    body = message(1, meta_info) + message(2, graph)
    for sig_key, (inputs, outputs) in signatures.items():
        body += message(5, string(1, sig_key) + message(2, signature_def(inputs, outputs)))
    body += message(
        5,
        string(1, "__saved_model_init_op")
        + message(2, signature_def({}, {"__saved_model_init_op": ("float32", ())}, "")),
    )
    return number(1, 1) + message(2, body)


def fingerprint(signature_def_hash: int) -> bytes:
    return number(1, 11) + number(2, 22) + number(3, signature_def_hash) + number(4, 44)


LINEAR = {"serving_default": ({"x": ("float32", (None,))}, {"output_0": ("float32", (None,))})}
