#!/usr/bin/python3
"""Reference numbers for the engine and U-Net tests, made by PyTorch itself.

    /usr/bin/python3 tools/make_fixtures.py     # writes test/fixtures/engine/

Run it with Debian's /usr/bin/python3 (python3-torch); the python3 first on
PATH may lack torch. Seeds are fixed, so rerunning changes the fixtures only
when PyTorch's numbers change. Everything is float32 on CPU with 2 threads,
as the TypeScript tests run, except the U-Net references, which are
computed in float64 from the same float32 weights and inputs: a float32 result
from any machine (oneDNN picks other kernels, and other summation orders, on
CPUs with AMX) is then compared with the exact value, within a bound derived
from float32 rounding (test/tensor/fixtures.ts), and our engine run in float64
must match them to float64 rounding.

Files (safetensors written by hand: the `safetensors` package is not needed):
  ops.safetensors        every engine op: inputs, output, a random upstream
                         gradient g and the input gradients of sum(out * g)
  optim.safetensors      a Conv-BN-ReLU-Conv net trained ten steps by SGD and
                         Adam variants: initial weights, losses, final weights
  unet.safetensors       the U-Net for every option combination: float32
                         weights and inputs; float64 logits, gradients of every
                         parameter and of the input, and running statistics
  unet_train.safetensors ten SGD(momentum 0.99) steps of a small U-Net with the
                         BCE + Jaccard loss: losses and final weights
  manifest.json          what each case is: op name and options (in the
                         TypeScript API's spelling) and its tensor keys
"""

import json
import os
import sys
import struct
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_unet import UNet  # noqa: E402  (the U-Net of src/models/unet.ts, shared with bench/)


OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "engine"

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bool: "BOOL"}


def write_safetensors(path, tensors):
    """8-byte header length, JSON header, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def randn(*shape):
    return torch.randn(shape, dtype=torch.float32)


def positive(*shape):
    return torch.rand(shape, dtype=torch.float32) * 2 + 0.1


# ---------------------------------------------------------------- single ops


class OpCases:
    """Collects op cases: tensors under '<case>.<role>' keys, descriptions for the manifest."""

    def __init__(self):
        self.tensors = {}
        self.cases = []

    def add(self, name, op, args, inputs, fn, nograd=(), after=()):
        """`inputs` is a list of (name, tensor); floating ones get gradients unless in `nograd`.
        `after` names inputs that the op updates in place (batch-norm running statistics)."""
        assert all(c["name"] != name for c in self.cases), name
        leaves, grads = [], []
        for key, value in inputs:
            self.tensors[f"{name}.in.{key}"] = value.clone()
            leaf = value.clone()
            if leaf.is_floating_point() and key not in nograd:
                leaf.requires_grad_(True)
                grads.append(key)
            leaves.append(leaf)
        out = fn(*leaves)
        self.tensors[f"{name}.out"] = out.detach().clone()
        for key in after:
            self.tensors[f"{name}.after.{key}"] = leaves[[k for k, _ in inputs].index(key)].detach().clone()
        if grads and out.requires_grad:
            upstream = randn(*out.shape)
            self.tensors[f"{name}.upstream"] = upstream
            (out * upstream).sum().backward()
            for key, leaf in zip([k for k, _ in inputs], leaves):
                if key in grads:
                    self.tensors[f"{name}.grad.{key}"] = leaf.grad.clone()
        else:
            grads = []
        self.cases.append({"name": name, "op": op, "args": args, "inputs": [k for k, _ in inputs], "grads": grads, "after": list(after)})


def op_cases():
    c = OpCases()

    # conv2d: plain, strided and padded, dilated, grouped, rectangular options, no bias
    for name, xs, ws, bias, args in [
        ("conv2d/3x3_9x11", (2, 3, 9, 11), (4, 3, 3, 3), True, {}),
        ("conv2d/3x3_stride2_pad1_9x11", (2, 3, 9, 11), (5, 3, 3, 3), True, {"stride": 2, "padding": 1}),
        ("conv2d/3x3_dilation2_pad2_10x7", (1, 2, 10, 7), (3, 2, 3, 3), True, {"padding": 2, "dilation": 2}),
        ("conv2d/3x3_groups3_stride1x2_pad1x0_7x8", (2, 6, 7, 8), (6, 2, 3, 3), True, {"stride": [1, 2], "padding": [1, 0], "groups": 3}),
        ("conv2d/1x1_nobias_5x5", (2, 4, 5, 5), (2, 4, 1, 1), False, {}),
        ("conv2d/2x3_stride2x1_11x6", (1, 3, 11, 6), (2, 3, 2, 3), True, {"stride": [2, 1]}),
    ]:
        inputs = [("x", randn(*xs)), ("weight", randn(*ws) * 0.3)]
        if bias:
            inputs.append(("bias", randn(ws[0])))
        a = dict(stride=1, padding=0, dilation=1, groups=1) | args
        c.add(name, "conv2d", args, inputs,
              lambda x, w, b=None, a=a: F.conv2d(x, w, b, a["stride"], a["padding"], a["dilation"], a["groups"]))

    # convTranspose2d: the U-Net's 2x2 stride 2, and 3x3 stride 2 with output padding
    for name, xs, ws, bias, args in [
        ("convTranspose2d/2x2_stride2_5x7", (2, 4, 5, 7), (4, 3, 2, 2), True, {"stride": 2}),
        ("convTranspose2d/3x3_stride2_pad1_outpad1_4x5", (2, 3, 4, 5), (3, 2, 3, 3), True, {"stride": 2, "padding": 1, "outputPadding": 1}),
        ("convTranspose2d/3x3_groups2_nobias_6x3", (1, 4, 6, 3), (4, 1, 3, 3), False, {"groups": 2}),
    ]:
        inputs = [("x", randn(*xs)), ("weight", randn(*ws) * 0.3)]
        if bias:
            inputs.append(("bias", randn(ws[1] * args.get("groups", 1))))
        a = dict(stride=1, padding=0, outputPadding=0, groups=1) | args
        c.add(name, "convTranspose2d", args, inputs,
              lambda x, w, b=None, a=a: F.conv_transpose2d(x, w, b, a["stride"], a["padding"], a["outputPadding"], a["groups"]))

    # batchNorm: training (batch statistics, running statistics updated in place) and inference
    for name, shape, training, momentum in [
        ("batchNorm/train_3x4x5x7", (3, 4, 5, 7), True, 0.1),
        ("batchNorm/train_momentum0.3_2x3x1x9", (2, 3, 1, 9), True, 0.3),
        ("batchNorm/eval_2x4x5x3", (2, 4, 5, 3), False, 0.1),
    ]:
        ch = shape[1]
        inputs = [("x", randn(*shape) * 2 + 0.5), ("weight", 1 + 0.2 * randn(ch)), ("bias", 0.2 * randn(ch)),
                  ("runningMean", 0.1 * randn(ch)), ("runningVar", 1 + torch.rand(ch))]
        c.add(name, "batchNorm", {"training": training, "momentum": momentum, "eps": 1e-5}, inputs,
              lambda x, w, b, rm, rv, t=training, m=momentum: F.batch_norm(x, rm, rv, w, b, t, m, 1e-5),
              nograd=("runningMean", "runningVar"), after=("runningMean", "runningVar"))

    # maxPool2d: the U-Net's 2x2 on even and odd sizes, strided 3x3 with padding, ceil mode
    for name, shape, args in [
        ("maxPool2d/2x2_8x10", (2, 3, 8, 10), {"kernel": 2}),
        ("maxPool2d/2x2_odd_9x11", (2, 3, 9, 11), {"kernel": 2}),
        ("maxPool2d/3x3_stride2_pad1_9x8", (1, 2, 9, 8), {"kernel": 3, "stride": 2, "padding": 1}),
        ("maxPool2d/2x2_ceil_9x11", (1, 2, 9, 11), {"kernel": 2, "ceilMode": True}),
        ("maxPool2d/3x3_stride2_ceil_10x11", (1, 2, 10, 11), {"kernel": 3, "stride": 2, "ceilMode": True}),
    ]:
        a = dict(stride=None, padding=0, ceilMode=False) | args
        c.add(name, "maxPool2d", args, [("x", randn(*shape))],
              lambda x, a=a: F.max_pool2d(x, a["kernel"], a["stride"], a["padding"], 1, a["ceilMode"]))

    # interpolate: bilinear both corner conventions, to a size and by a factor; nearest
    for name, shape, args in [
        ("interpolate/bilinear_alignCorners_x2_5x7", (2, 3, 5, 7), {"mode": "bilinear", "alignCorners": True, "scaleFactor": 2}),
        ("interpolate/bilinear_x2_5x7", (2, 3, 5, 7), {"mode": "bilinear", "alignCorners": False, "scaleFactor": 2}),
        ("interpolate/bilinear_alignCorners_size9x13_4x6", (1, 2, 4, 6), {"mode": "bilinear", "alignCorners": True, "size": [9, 13]}),
        ("interpolate/bilinear_size9x4_6x7", (1, 2, 6, 7), {"mode": "bilinear", "alignCorners": False, "size": [9, 4]}),
        ("interpolate/bilinear_x1.5_5x7", (1, 2, 5, 7), {"mode": "bilinear", "alignCorners": False, "scaleFactor": 1.5}),
        ("interpolate/nearest_x2_3x5", (2, 2, 3, 5), {"mode": "nearest", "scaleFactor": 2}),
        ("interpolate/nearest_size7x10_3x4", (1, 2, 3, 4), {"mode": "nearest", "size": [7, 10]}),
    ]:
        c.add(name, "interpolate", args, [("x", randn(*shape))],
              lambda x, a=args: F.interpolate(x, size=a.get("size"), scale_factor=a.get("scaleFactor"), mode=a["mode"],
                                              align_corners=a.get("alignCorners") if a["mode"] == "bilinear" else None))

    # cat
    c.add("cat/dim1_2x3x4x5_2x2x4x5", "cat", {"dim": 1}, [("a", randn(2, 3, 4, 5)), ("b", randn(2, 2, 4, 5))],
          lambda a, b: torch.cat([a, b], 1))
    c.add("cat/dim0_1x3x5_2x3x5", "cat", {"dim": 0}, [("a", randn(1, 3, 5)), ("b", randn(2, 3, 5))], lambda a, b: torch.cat([a, b], 0))
    c.add("cat/dim-1_three_2x3x1_2x3x4_2x3x2", "cat", {"dim": -1}, [("a", randn(2, 3, 1)), ("b", randn(2, 3, 4)), ("c", randn(2, 3, 2))],
          lambda a, b, cc: torch.cat([a, b, cc], -1))

    # slicing and cropping
    c.add("slice/dim2_1to6_step2_2x3x9x4", "slice", {"dim": 2, "start": 1, "end": 6, "step": 2}, [("x", randn(2, 3, 9, 4))],
          lambda x: x[:, :, 1:6:2])
    c.add("slice/dim-1_-4toend_3x7", "slice", {"dim": -1, "start": -4}, [("x", randn(3, 7))], lambda x: x[:, -4:])
    c.add("slice/dim0_0to1_3x2x5", "slice", {"dim": 0, "start": 0, "end": 1}, [("x", randn(3, 2, 5))], lambda x: x[0:1])
    for h, w, th, tw in [(9, 11, 5, 6), (8, 8, 3, 8)]:
        top, left = (h - th) // 2, (w - tw) // 2
        c.add(f"centerCrop/2x3x{h}x{w}_to_{th}x{tw}", "centerCrop", {"height": th, "width": tw}, [("x", randn(2, 3, h, w))],
              lambda x, top=top, left=left, th=th, tw=tw: x[..., top:top + th, left:left + tw])

    # padding (negative constant padding crops)
    for name, shape, args in [
        ("pad/constant0.5_1x2x0x3_2x3x4x5", (2, 3, 4, 5), {"pads": [1, 2, 0, 3], "mode": "constant", "value": 0.5}),
        ("pad/constant_negative_crop_1x3x5x6", (1, 3, 5, 6), {"pads": [-1, -2, 1, -1], "mode": "constant", "value": 0}),
        ("pad/reflect_2x1x1x2_2x3x5x6", (2, 3, 5, 6), {"pads": [2, 1, 1, 2], "mode": "reflect", "value": 0}),
        ("pad/reflect_4x4x3x3_1x2x5x5", (1, 2, 5, 5), {"pads": [4, 4, 3, 3], "mode": "reflect", "value": 0}),
        ("pad/replicate_3x0x2x1_2x2x4x3", (2, 2, 4, 3), {"pads": [3, 0, 2, 1], "mode": "replicate", "value": 0}),
        ("pad/replicate_beyond_size_7x6x5x4_1x1x3x2", (1, 1, 3, 2), {"pads": [7, 6, 5, 4], "mode": "replicate", "value": 0}),
    ]:
        c.add(name, "pad", args, [("x", randn(*shape))],
              lambda x, a=args: F.pad(x, a["pads"], a["mode"], a["value"]) if a["mode"] == "constant" else F.pad(x, a["pads"], a["mode"]))

    # reshape, permute, flip, rot90
    c.add("reshape/2x3x4x5_to_6x-1", "reshape", {"shape": [6, -1]}, [("x", randn(2, 3, 4, 5))], lambda x: x.reshape(6, -1))
    c.add("reshape/permuted_3x4x2_to_24", "reshape", {"shape": [24], "permuteFirst": [2, 0, 1]}, [("x", randn(3, 4, 2))],
          lambda x: x.permute(2, 0, 1).reshape(24))
    c.add("permute/0231_2x3x4x5", "permute", {"dims": [0, 2, 3, 1]}, [("x", randn(2, 3, 4, 5))], lambda x: x.permute(0, 2, 3, 1))
    c.add("permute/210_3x1x4", "permute", {"dims": [2, 1, 0]}, [("x", randn(3, 1, 4))], lambda x: x.permute(2, 1, 0))
    c.add("flip/dims2,3_2x2x3x5", "flip", {"dims": [2, 3]}, [("x", randn(2, 2, 3, 5))], lambda x: x.flip([2, 3]))
    c.add("flip/dim-1_4x3", "flip", {"dims": [-1]}, [("x", randn(4, 3))], lambda x: x.flip([-1]))
    for k in (1, 2, 3, -1):
        c.add(f"rot90/k{k}_2x2x3x5", "rot90", {"k": k, "dims": [-2, -1]}, [("x", randn(2, 2, 3, 5))], lambda x, k=k: torch.rot90(x, k, [-2, -1]))
    c.add("rot90/k1_dims1,3_1x3x2x4", "rot90", {"k": 1, "dims": [1, 3]}, [("x", randn(1, 3, 2, 4))], lambda x: torch.rot90(x, 1, [1, 3]))

    # elementwise arithmetic with broadcasting (tensor-tensor and tensor-scalar)
    binary = {
        "add": lambda a, b, alpha: torch.add(a, b, alpha=alpha), "sub": lambda a, b, alpha: torch.sub(a, b, alpha=alpha),
        "mul": lambda a, b, _: a * b, "div": lambda a, b, _: a / b, "pow": lambda a, b, _: torch.pow(a, b),
        "maximum": lambda a, b, _: torch.maximum(a, b) if torch.is_tensor(b) else torch.clamp(a, min=b),
        "minimum": lambda a, b, _: torch.minimum(a, b) if torch.is_tensor(b) else torch.clamp(a, max=b),
    }
    for op, ashape, bshape, scalar, alpha in [
        ("add", (2, 3, 4, 5), (3, 1, 1), None, 1), ("add", (4, 1), (1, 5), None, 2.5), ("add", (2, 3), None, 1.5, 1),
        ("sub", (2, 3, 4, 5), (5,), None, 1), ("sub", (3, 1, 4), (2, 1), None, 0.5), ("sub", (3, 4), None, -2.0, 1),
        ("mul", (2, 3, 4, 5), (1, 3, 1, 1), None, 1), ("mul", (5, 1), (1, 6), None, 1), ("mul", (2, 5), None, -0.75, 1),
        ("div", (2, 3, 4), (4,), None, 1), ("div", (3, 1), (1, 4), None, 1), ("div", (2, 3), None, 4.0, 1),
        ("pow", (3, 4), None, 2.5, 1), ("pow", (2, 3), (3,), None, 1), ("pow", (4,), None, 2.0, 1),
        ("maximum", (2, 3, 4), (3, 1), None, 1), ("minimum", (4, 5), (5,), None, 1),
    ]:
        positive_base = op == "pow" or op == "div"
        a = positive(*ashape) if op == "pow" else randn(*ashape)
        inputs = [("a", a)]
        args = {"alpha": alpha} if alpha != 1 else {}
        shape_text = "x".join(map(str, ashape))
        if scalar is None:
            b = positive(*bshape) if positive_base else randn(*bshape)
            inputs.append(("b", b))
            name = f"{op}/{shape_text}_{'x'.join(map(str, bshape))}"
        else:
            args["scalar"] = scalar
            name = f"{op}/{shape_text}_scalar{scalar}"
        if alpha != 1:
            name += f"_alpha{alpha}"
        fn = binary[op]
        if scalar is None:
            c.add(name, op, args, inputs, lambda a, b, fn=fn, alpha=alpha: fn(a, b, alpha))
        else:
            c.add(name, op, args, inputs, lambda a, fn=fn, s=scalar, alpha=alpha: fn(a, s, alpha))

    # reductions over dims (amax/amin for max/min, as the Tensor methods)
    reductions = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}
    for op, shape, dims, keepdim in [
        ("sum", (2, 3, 4, 5), None, False), ("sum", (2, 3, 4, 5), [1], True), ("sum", (2, 3, 5), [0, 2], False),
        ("mean", (2, 3, 4, 5), None, False), ("mean", (2, 3, 4, 5), [2, 3], False), ("mean", (3, 7), [-1], True),
        ("max", (2, 3, 4, 5), None, False), ("max", (2, 3, 4, 5), [1], False), ("max", (2, 3, 4, 5), [2, 3], True),
        ("min", (3, 7), [-1], False), ("min", (2, 3, 4), [0, 1], True),
    ]:
        args = {"keepdim": keepdim} | ({"dims": dims} if dims is not None else {})
        name = f"{op}/{'all' if dims is None else 'dims' + ','.join(map(str, dims))}{'_keepdim' if keepdim else ''}_{'x'.join(map(str, shape))}"
        if dims is None:
            fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.max, "min": torch.min}[op]
        else:
            fn = lambda x, r=reductions[op], d=dims, k=keepdim: r(x, dim=d, keepdim=k)
        c.add(name, op, args, [("x", randn(*shape))], fn)

    # comparisons: values drawn from a few levels so that equal elements occur
    comparisons = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
    for op, fn in comparisons.items():
        a = torch.randint(-2, 3, (2, 3, 4)).float() / 2
        b = torch.randint(-2, 3, (3, 1)).float() / 2
        c.add(f"{op}/2x3x4_3x1", op, {}, [("a", a), ("b", b)], lambda a, b, fn=fn: fn(a, b))
        c.add(f"{op}/2x3x4_scalar0.5", op, {"scalar": 0.5}, [("a", a.clone())], lambda a, fn=fn: fn(a, 0.5))

    # where, clamp
    c.add("where/2x3x4_cond_broadcast_3x1", "where", {}, [("condition", torch.rand(2, 3, 4) > 0.4), ("a", randn(2, 3, 4)), ("b", randn(3, 1))],
          lambda cond, a, b: torch.where(cond, a, b))
    c.add("where/3x5_scalar_b", "where", {"scalarB": -1.5}, [("condition", torch.rand(3, 5) > 0.5), ("a", randn(3, 5))],
          lambda cond, a: torch.where(cond, a, torch.tensor(-1.5)))
    for name, lo, hi in [("clamp/-0.5to0.8_3x4x5", -0.5, 0.8), ("clamp/min0.2_3x4x5", 0.2, None), ("clamp/max-0.1_3x4x5", None, -0.1)]:
        c.add(name, "clamp", {"min": lo, "max": hi}, [("x", randn(3, 4, 5))], lambda x, lo=lo, hi=hi: torch.clamp(x, lo, hi))

    # unary
    for op, make, fn in [
        ("relu", randn, torch.relu), ("exp", randn, torch.exp), ("log", positive, torch.log), ("sigmoid", lambda *s: 3 * randn(*s), torch.sigmoid),
        ("tanh", randn, torch.tanh), ("sqrt", positive, torch.sqrt), ("abs", randn, torch.abs), ("neg", randn, torch.neg),
    ]:
        c.add(f"{op}/2x3x5x7", op, {}, [("x", make(2, 3, 5, 7))], fn)
    c.add("log/odd_1x1x3x1", "log", {}, [("x", positive(1, 1, 3, 1))], torch.log)

    # softmax, logSoftmax
    for op, fn in [("softmax", F.softmax), ("logSoftmax", F.log_softmax)]:
        for shape, dim in [((2, 3, 5, 7), 1), ((4, 9), -1), ((2, 5, 3), 0)]:
            c.add(f"{op}/dim{dim}_{'x'.join(map(str, shape))}", op, {"dim": dim}, [("x", 2 * randn(*shape))],
                  lambda x, fn=fn, dim=dim: fn(x, dim))

    # binary cross-entropy on probabilities and on logits
    shape = (2, 1, 5, 7)
    for reduction in ("mean", "sum", "none"):
        c.add(f"binaryCrossEntropy/{reduction}_hard_target_2x1x5x7", "binaryCrossEntropy", {"reduction": reduction},
              [("p", torch.sigmoid(2 * randn(*shape))), ("target", (torch.rand(*shape) > 0.5).float())],
              lambda p, t, r=reduction: F.binary_cross_entropy(p, t, reduction=r), nograd=("target",))
    c.add("binaryCrossEntropy/soft_target_weighted_3x4", "binaryCrossEntropy", {"reduction": "mean"},
          [("p", torch.sigmoid(randn(3, 4))), ("target", torch.rand(3, 4)), ("weight", positive(3, 4))],
          lambda p, t, w: F.binary_cross_entropy(p, t, weight=w), nograd=("target", "weight"))
    for reduction in ("mean", "sum", "none"):
        c.add(f"binaryCrossEntropyWithLogits/{reduction}_2x1x5x7", "binaryCrossEntropyWithLogits", {"reduction": reduction},
              [("logits", 4 * randn(*shape)), ("target", (torch.rand(*shape) > 0.5).float())],
              lambda x, t, r=reduction: F.binary_cross_entropy_with_logits(x, t, reduction=r), nograd=("target",))
    c.add("binaryCrossEntropyWithLogits/large_logits_2x6", "binaryCrossEntropyWithLogits", {"reduction": "mean"},
          [("logits", torch.tensor([[-120.0, -30.0, -1.0, 0.0, 40.0, 150.0], [90.0, -90.0, 3.0, -3.0, 0.5, 20.0]])),
           ("target", torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0, 0.5, 0.0]]))],
          lambda x, t: F.binary_cross_entropy_with_logits(x, t), nograd=("target",))
    c.add("binaryCrossEntropyWithLogits/weight_posWeight_2x3x4x5", "binaryCrossEntropyWithLogits", {"reduction": "mean"},
          [("logits", 2 * randn(2, 3, 4, 5)), ("target", torch.rand(2, 3, 4, 5)), ("weight", positive(2, 3, 4, 5)), ("posWeight", positive(5))],
          lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw), nograd=("target", "weight", "posWeight"))

    # cross-entropy and NLL over class indices, with class weights and ignored pixels
    target = torch.randint(0, 3, (2, 5, 7))
    target_ignored = target.clone()
    target_ignored[0, 0, :3] = -100
    for name, args, inputs, fn in [
        ("crossEntropy/mean_2x3x5x7", {"reduction": "mean"}, [("logits", 2 * randn(2, 3, 5, 7)), ("target", target)],
         lambda x, t: F.cross_entropy(x, t)),
        ("crossEntropy/weighted_2x3x5x7", {"reduction": "mean"}, [("logits", 2 * randn(2, 3, 5, 7)), ("target", target), ("weight", torch.tensor([0.2, 1.0, 3.0]))],
         lambda x, t, w: F.cross_entropy(x, t, weight=w)),
        ("crossEntropy/weighted_ignore_sum_2x3x5x7", {"reduction": "sum", "ignoreIndex": -100}, [("logits", 2 * randn(2, 3, 5, 7)), ("target", target_ignored), ("weight", torch.tensor([0.5, 2.0, 1.0]))],
         lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum")),
        ("crossEntropy/none_6x4", {"reduction": "none"}, [("logits", 2 * randn(6, 4)), ("target", torch.randint(0, 4, (6,)))],
         lambda x, t: F.cross_entropy(x, t, reduction="none")),
        ("crossEntropy/labelSmoothing0.1_weighted_2x3x5x7", {"reduction": "mean", "labelSmoothing": 0.1}, [("logits", 2 * randn(2, 3, 5, 7)), ("target", target), ("weight", torch.tensor([0.2, 1.0, 3.0]))],
         lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1)),
        ("nllLoss/mean_6x4", {"reduction": "mean"}, [("logProbabilities", F.log_softmax(randn(6, 4), 1)), ("target", torch.randint(0, 4, (6,)))],
         lambda x, t: F.nll_loss(x, t)),
        ("nllLoss/weighted_ignore_2x3x5x7", {"reduction": "mean", "ignoreIndex": -100}, [("logProbabilities", F.log_softmax(randn(2, 3, 5, 7), 1)), ("target", target_ignored), ("weight", torch.tensor([1.5, 0.5, 2.0]))],
         lambda x, t, w: F.nll_loss(x, t, weight=w)),
    ]:
        c.add(name, name.split("/")[0], args, inputs, fn, nograd=("weight",))
    return c


# ---------------------------------------------------------------- optimizers


def small_conv_net():
    """Conv-BN-ReLU-Conv; test/optim builds the same with state_dict keys 0.*, 1.*, 3.*.

    The first convolution has no bias, as in front of batch norm in the U-Net:
    batch norm cancels such a bias, so its exact gradient is zero and its
    float32 gradient pure rounding noise, which Adam divides by its own
    magnitude into steps of the full learning rate in a direction set by the
    summation order of each CPU's kernels: nothing a reference could fix.
    """
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))


OPTIMIZERS = {
    "sgd_momentum0.9_wd1e-3": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
                               {"kind": "SGD", "lr": 0.1, "momentum": 0.9, "weightDecay": 1e-3}),
    "sgd_nesterov_momentum0.9_wd1e-3": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                        {"kind": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-3}),
    "sgd_momentum0.9_dampening0.1": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
                                     {"kind": "SGD", "lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
    "adam_lr1e-2": (lambda p: torch.optim.Adam(p, lr=1e-2), {"kind": "Adam", "lr": 1e-2}),
    "adam_lr1e-2_wd1e-2": (lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2), {"kind": "Adam", "lr": 1e-2, "weightDecay": 1e-2}),
    "adamw_lr1e-2_wd0.1": (lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1), {"kind": "AdamW", "lr": 1e-2, "weightDecay": 0.1}),
}


def optim_cases():
    tensors, runs = {}, []
    torch.manual_seed(1)
    net = small_conv_net()
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    x = randn(4, 1, 8, 8)
    y = (torch.rand(4, 1, 8, 8) > 0.5).float()
    tensors.update({f"init.{k}": v for k, v in initial.items()})
    tensors["x"], tensors["y"] = x, y
    for name, (make, options) in OPTIMIZERS.items():
        net.load_state_dict(initial)
        net.train()
        opt = make(net.parameters())
        losses = []
        for _ in range(10):
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        tensors[f"{name}.losses"] = torch.tensor(losses)
        tensors.update({f"{name}.final.{k}": v.clone() for k, v in net.state_dict().items()})
        runs.append({"name": name, "options": options})
    return tensors, {"keys": list(initial), "loss": "binaryCrossEntropyWithLogits", "steps": 10, "runs": runs}


def scheduler_cases():
    """Learning rates over 12 epochs (one scheduler step per epoch) from torch.optim.lr_scheduler."""
    from torch.optim import lr_scheduler as S

    metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.8, 0.85, 0.86, 0.87, 0.88]
    cases = []
    for name, make, options in [
        ("StepLR", lambda o: S.StepLR(o, step_size=3, gamma=0.5), {"stepSize": 3, "gamma": 0.5}),
        ("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=1e-4), {"tMax": 8, "etaMin": 1e-4}),
        ("PolynomialLR", lambda o: S.PolynomialLR(o, total_iters=10, power=0.9), {"totalIters": 10, "power": 0.9}),
        ("ReduceLROnPlateau", lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2, threshold=1e-4, min_lr=1e-3),
         {"factor": 0.5, "patience": 2, "threshold": 1e-4, "minLr": 1e-3}),
    ]:
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01 if name == "ReduceLROnPlateau" else 0.1)
        scheduler = make(opt)
        rates = []
        for epoch in range(12):
            opt.step()
            scheduler.step(metrics[epoch]) if name == "ReduceLROnPlateau" else scheduler.step()
            rates.append(opt.param_groups[0]["lr"])
        cases.append({"name": name, "baseLr": 0.01 if name == "ReduceLROnPlateau" else 0.1, "options": options, "rates": rates,
                      **({"metrics": metrics} if name == "ReduceLROnPlateau" else {})})
    return cases


# ---------------------------------------------------------------- U-Net


def randomise_batch_norm(net):
    """Non-trivial affine parameters and running statistics, so every one of them is exercised."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * randn(*m.weight.shape))
                m.bias.copy_(0.2 * randn(*m.bias.shape))
                m.running_mean.copy_(0.1 * randn(*m.running_mean.shape))
                m.running_var.copy_(1 + 0.5 * torch.rand(*m.running_var.shape))


DEEP = {("bilinear", "same"), ("transpose", "valid")}


def unet_cases():
    tensors, cases = {}, []
    torch.manual_seed(2)
    size = (37, 45)
    for cin in (1, 3):
        tensors[f"x{cin}"] = randn(2, cin, *size)
    for classes in (1, 3):
        tensors[f"upstream{classes}"] = randn(2, classes, *size)
    for upsample in ("bilinear", "transpose"):
        for padding in ("same", "valid"):
            for batch_norm in (True, False):
                for classes in (1, 3):
                    cin = classes
                    # three levels on two cases covers deeper nets; two levels elsewhere keeps the fixtures small
                    depth = 3 if (batch_norm and classes == 1 and (upsample, padding) in DEEP) else 2
                    options = {"inChannels": cin, "classes": classes, "depth": depth, "baseChannels": 4,
                               "batchNorm": batch_norm, "upsample": upsample, "padding": padding}
                    name = f"{upsample}_{padding}_{'bn' if batch_norm else 'nobn'}_{classes}class_depth{depth}"
                    net = UNet(cin, classes, depth, 4, batch_norm, upsample, padding)
                    randomise_batch_norm(net)
                    tensors.update({f"{name}.weights.{k}": v.clone() for k, v in net.state_dict().items()})
                    # the references: the same float32 numbers, computed in float64
                    net.double()
                    x = tensors[f"x{cin}"].double().requires_grad_(True)
                    evaluate = batch_norm and classes == 1
                    if evaluate:
                        # inference first: it uses the initial running statistics
                        net.eval()
                        with torch.no_grad():
                            tensors[f"{name}.evalLogits"] = net(x)
                    net.train()
                    logits = net(x)
                    tensors[f"{name}.logits"] = logits.detach().clone()
                    (logits * tensors[f"upstream{classes}"].double()).sum().backward()
                    tensors[f"{name}.grad.input"] = x.grad.clone()
                    tensors.update({f"{name}.grad.{k}": p.grad.clone() for k, p in net.named_parameters()})
                    buffers = {k: v.clone() for k, v in net.named_buffers()}
                    tensors.update({f"{name}.buffersAfter.{k}": v for k, v in buffers.items()})
                    cases.append({"name": name, "options": options, "input": f"x{cin}", "upstream": f"upstream{classes}", "eval": evaluate})
    return tensors, {"inputShape": [2, None, *size], "cases": cases}


def bce_with_jaccard(logits, y):
    """bce(sigmoid(logits), y) - log(J + 1e-12), J the soft Jaccard over the whole batch; bce taken from logits."""
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    intersection = (p * y).sum()
    jaccard = intersection / (p.sum() + y.sum() - intersection)
    return bce - torch.log(jaccard + 1e-12)


def unet_train_case():
    torch.manual_seed(3)
    options = {"inChannels": 1, "classes": 1, "depth": 2, "baseChannels": 4, "batchNorm": True, "upsample": "bilinear", "padding": "same"}
    net = UNet(1, 1, 2, 4, True, "bilinear", "same")
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    # a disc and a bar, and an image that shows them through noise
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc = (((yy - 12) ** 2 + (xx - 19) ** 2) < 49).float()
    bar = ((yy > 20) & (yy < 26) & (xx > 4) & (xx < 28)).float()
    y = torch.stack([disc, bar]).unsqueeze(1)
    x = y * 1.5 - 0.5 + 0.5 * randn(2, 1, 32, 32)
    opt = torch.optim.SGD(net.parameters(), lr=5e-3, momentum=0.99)
    net.train()
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = bce_with_jaccard(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tensors = {"x": x, "y": y, "losses": torch.tensor(losses)}
    tensors.update({f"init.{k}": v for k, v in initial.items()})
    tensors.update({f"final.{k}": v.clone() for k, v in net.state_dict().items()})
    return tensors, {"options": options, "optimizer": {"lr": 5e-3, "momentum": 0.99}, "steps": 10, "keys": list(initial)}


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    ops = op_cases()
    write_safetensors(OUT / "ops.safetensors", ops.tensors)
    optim_tensors, optim_manifest = optim_cases()
    write_safetensors(OUT / "optim.safetensors", optim_tensors)
    unet_tensors, unet_manifest = unet_cases()
    write_safetensors(OUT / "unet.safetensors", unet_tensors)
    train_tensors, train_manifest = unet_train_case()
    write_safetensors(OUT / "unet_train.safetensors", train_tensors)
    manifest = {"generator": "tools/make_fixtures.py", "torch": torch.__version__, "ops": ops.cases, "optim": optim_manifest,
                "schedulers": scheduler_cases(), "unet": unet_manifest, "unetTrain": train_manifest}
    (OUT / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(ops.cases)} op cases, {len(optim_manifest['runs'])} optimizer runs, {len(unet_manifest['cases'])} U-Nets; {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
