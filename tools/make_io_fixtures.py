#!/usr/bin/python3
"""Checkpoint fixtures for test/io, made by PyTorch itself.

    /usr/bin/python3 tools/make_io_fixtures.py          # write test/fixtures/io/
    /usr/bin/python3 tools/make_io_fixtures.py --check  # torch.load what patho wrote

Run it with Debian's /usr/bin/python3 (python3-torch); the python3 first on
PATH may lack torch. Writing is deterministic (fixed seeds), so rerunning only
changes the fixtures when PyTorch's output changes; legacy.pt is the exception,
as the legacy format names storages by memory address.

expected.json describes every fixture: tensors as {"__tensor__": {dtype,
shape, hex}} where hex is the contiguous little-endian bytes, ints beyond
2**53 as {"__bigint__": "..."}, dict keys as strings, tuples as lists.

--check loads written-by-patho.pt (made by test/io/interop.test.ts) with plain
torch.load (1.13 has no weights_only) and asserts every name, dtype, shape and
value, and that zip64-by-patho.zip passes Python's zipfile CRC checks.
"""

import argparse
import collections
import json
import math
import os
import struct
import sys
import zipfile
from pathlib import Path

import torch
from torch import nn

FIXTURES = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "io"

DTYPES = {
    torch.float32: "float32",
    torch.float64: "float64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int16: "int16",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}

SAFETENSORS_DTYPES = {"F32": "float32", "I64": "int64", "F16": "float16", "BF16": "bfloat16", "BOOL": "bool", "U8": "uint8"}


def tensor_hex(t):
    t = t.detach().contiguous()
    # numpy has no bfloat16; its bit pattern is what the file holds anyway.
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


def describe(value):
    if isinstance(value, torch.Tensor):
        return {"__tensor__": {"dtype": DTYPES[value.dtype], "shape": list(value.shape), "hex": tensor_hex(value)}}
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
        return {"__bigint__": str(value)}
    return value


def tiny_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 1, 1))
    net.train()
    net(torch.randn(2, 1, 4, 4))  # moves running statistics and num_batches_tracked
    return net


def optimizer_checkpoint(net):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(1, 1, 4, 4)).sum().backward()
    opt.step()
    return {
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "best_dice": 0.875,
        "name": "unet-\u00fc",
        "history": [1.5, 2, None, True, False, "x", (1, 2)],
        "big": 2**70,
        "neg": -(2**40),
        "negbig": -(2**70),
        "nested": {"a": {"b": []}},
        "empty": {},
    }


def dtypes_dict():
    return {
        "f32": torch.tensor([1.5, -2.25, 3.0]),
        "f64": torch.tensor([math.pi, -1e-300], dtype=torch.float64),
        "f16": torch.tensor([0.5, -1.0, 65504.0], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -1.5, 3.0e38], dtype=torch.bfloat16),
        "i64": torch.tensor([-(2**40), 0, 7]),
        "i32": torch.tensor([-1, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([[0, 255], [1, 2]], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }


def views_dict():
    base = torch.arange(12.0).reshape(3, 4)
    return {
        "base": base,
        "transposed": base.t(),
        "row": base[1],
        "column": base[:, 2],
        "block": base[1:, 1:3],
        "expanded": torch.arange(4.0).expand(3, 4),
        "tied": base,
    }


class Custom:
    """A class outside the allow-list: loading a file holding one must fail."""


class RunsCode:
    """Unpickling this with plain pickle would call os.system."""

    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran code",))


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def make():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    expected = {}

    net = tiny_net()
    torch.save(net.state_dict(), FIXTURES / "state_dict.pt")
    expected["state_dict.pt"] = describe(net.state_dict())

    checkpoint = optimizer_checkpoint(net)
    torch.save(checkpoint, FIXTURES / "optimizer.pt")
    expected["optimizer.pt"] = describe(checkpoint)

    dtypes = dtypes_dict()
    torch.save(dtypes, FIXTURES / "dtypes.pt")
    expected["dtypes.pt"] = describe(dtypes)

    views = views_dict()
    torch.save(views, FIXTURES / "views.pt")
    expected["views.pt"] = describe(views)

    protocol4 = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "meta": {"ints": [1, 300, 70000, -5], "s": "x"}}
    torch.save(protocol4, FIXTURES / "protocol4.pt", pickle_protocol=4)
    expected["protocol4.pt"] = describe(protocol4)

    torch.save({"w": torch.ones(2)}, FIXTURES / "legacy.pt", _use_new_zipfile_serialization=False)

    torch.save({"x": RunsCode()}, FIXTURES / "forbidden-os-system.pt")
    torch.save({"model": Custom()}, FIXTURES / "forbidden-class.pt")
    expected["forbidden"] = {
        "forbidden-os-system.pt": f"{os.system.__module__}.system",
        "forbidden-class.pt": "__main__.Custom",
    }

    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    safetensors = {
        "weight": ("F32", [2, 3], weight.numpy().tobytes()),
        "step": ("I64", [], struct.pack("<q", 42)),
        "half": ("F16", [2], torch.tensor([0.5, -2.0], dtype=torch.float16).numpy().tobytes()),
        "bf16": ("BF16", [2], torch.tensor([1.0, -1.5], dtype=torch.bfloat16).view(torch.int16).numpy().tobytes()),
        "mask": ("BOOL", [4], bytes([1, 0, 0, 1])),
        "u8": ("U8", [3], bytes([0, 128, 255])),
    }
    metadata = {"format": "pt", "source": "make_io_fixtures.py"}
    write_safetensors(FIXTURES / "tensors.safetensors", safetensors, metadata)
    expected["tensors.safetensors"] = {
        "tensors": {
            name: {"__tensor__": {"dtype": SAFETENSORS_DTYPES[dtype], "shape": shape, "hex": raw.hex()}}
            for name, (dtype, shape, raw) in safetensors.items()
        },
        "metadata": metadata,
    }

    (FIXTURES / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    for path in sorted(FIXTURES.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")


def check_aligned(path):
    """Every entry's data starts at a multiple of 64, as PyTorch's own writer guarantees."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None, "CRC error"
        for info in archive.infolist():
            name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
            start = info.header_offset + 30 + name_length + extra_length
            assert start % 64 == 0, f"{info.filename} data at {start}"
            assert raw[start : start + info.file_size] == archive.read(info.filename)
        return archive.namelist()


def check():
    path = FIXTURES / "written-by-patho.pt"
    names = check_aligned(path)
    print(f"{path.name}: zip entries {names}")
    sd = torch.load(path)

    expected_shapes = {
        "conv.weight": ([2, 1, 3, 3], torch.float32),
        "conv.bias": ([2], torch.float32),
        "bn.num_batches_tracked": ([], torch.int64),
        "half": ([3], torch.float16),
        "bf16": ([2], torch.bfloat16),
        "f64": ([2], torch.float64),
        "i32": ([3], torch.int32),
        "i16": ([2], torch.int16),
        "i8": ([2], torch.int8),
        "u8": ([3], torch.uint8),
        "mask": ([2, 2], torch.bool),
        "empty": ([0, 3], torch.float32),
        "tied.a": ([4], torch.float32),
        "tied.b": ([2, 2], torch.float32),
    }
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    assert list(tensors) == list(expected_shapes), list(tensors)
    for name, (shape, dtype) in expected_shapes.items():
        assert list(tensors[name].shape) == shape and tensors[name].dtype == dtype, name

    assert torch.equal(sd["conv.weight"], (torch.arange(18.0) / 8 - 1).reshape(2, 1, 3, 3))
    assert torch.equal(sd["conv.bias"], torch.tensor([0.5, -0.25]))
    assert sd["bn.num_batches_tracked"].item() == 7
    assert torch.equal(sd["half"], torch.tensor([1.0, -2.0, 0.5], dtype=torch.float16))
    assert torch.equal(sd["bf16"], torch.tensor([1.0, -1.5], dtype=torch.bfloat16))
    assert torch.equal(sd["f64"], torch.tensor([math.pi, -1e-300], dtype=torch.float64))
    assert torch.equal(sd["i32"], torch.tensor([-1, 0, 2**31 - 1], dtype=torch.int32))
    assert torch.equal(sd["i16"], torch.tensor([-300, 300], dtype=torch.int16))
    assert torch.equal(sd["i8"], torch.tensor([-128, 127], dtype=torch.int8))
    assert torch.equal(sd["u8"], torch.tensor([0, 128, 255], dtype=torch.uint8))
    assert torch.equal(sd["mask"], torch.tensor([[True, False], [False, True]]))
    assert torch.equal(sd["tied.a"], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert torch.equal(sd["tied.b"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert sd["tied.a"].storage().data_ptr() == sd["tied.b"].storage().data_ptr(), "tied tensors share storage"

    meta = sd["meta"]
    assert meta["lr"] == 1.0 and type(meta["lr"]) is float
    assert meta["epoch"] == 5 and type(meta["epoch"]) is int
    assert meta["ratio"] == 0.1
    assert meta["name"] == "patho \u00fc \u2713"
    assert meta["flags"] == [True, False, None]
    assert meta["big"] == 2**70 and meta["neg"] == -123456789012
    assert sorted(meta["state"]) == [0, 1], "integer keys come back as ints"
    assert torch.equal(meta["state"][1]["momentum_buffer"], torch.tensor([0.25, -0.5]))
    assert meta["groups"] == [{"params": [0, 1], "lr": 0.01}]
    assert type(meta["groups"][0]["lr"]) is float

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    net.load_state_dict({
        "0.weight": sd["conv.weight"], "0.bias": sd["conv.bias"],
        "1.weight": torch.ones(2), "1.bias": torch.zeros(2),
        "1.running_mean": torch.zeros(2), "1.running_var": torch.ones(2),
        "1.num_batches_tracked": sd["bn.num_batches_tracked"],
    })
    print(f"{path.name}: torch {torch.__version__} loaded {len(tensors)} tensors and meta; all values, dtypes, "
          "shapes, int keys, float types and tied storage match; load_state_dict accepted them")

    zip64 = FIXTURES / "zip64-by-patho.zip"
    names = check_aligned(zip64)
    with zipfile.ZipFile(zip64) as archive:
        assert archive.read("a.txt") == b"hello" and archive.read("dir/b.bin") == bytes(range(200))
    print(f"{zip64.name}: Python zipfile read {names} (zip64 records), CRCs and 64-byte alignment OK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="torch.load the files patho wrote and verify them")
    args = parser.parse_args()
    check() if args.check else make()


if __name__ == "__main__":
    sys.exit(main())
