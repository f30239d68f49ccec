#!/usr/bin/env python3
"""Convert a PyTorch state_dict into the HDF5 weight layout wormsim reads (docs/graph-format.md).

    scripts/convert_state_dict.py model.pth weights.h5
    scripts/convert_state_dict.py weights.npz weights.h5 --dtype float16 --strip-prefix model.

Input: a .pt / .pth state_dict (needs torch; a checkpoint dict holding "state_dict" or "model"
is unwrapped) or an .npz of named arrays (numpy only; the names are the state_dict keys).
Output: one root dataset per tensor, named by the (renamed) key, holding what the wormsim graph
wants:
  - 2-D "*.weight" tensors (nn.Linear, PyTorch [out, in]) are transposed to [in, out], TT-NN's
    matmul / linear weight layout; embedding and position tables (names matching
    --keep-pattern) are left as they are;
  - 4-D "*.weight" tensors (nn.Conv2d, [C_out, C_in, kh, kw]) become TT-NN's prepared conv
    weight matrix [kh * kw * C_in, C_out] (row (ky * kw + kx) * C_in + c), unless --no-conv;
  - 4-D weights whose names match --conv-transpose-pattern (nn.ConvTranspose2d, [C_in, C_out,
    kh, kw]; by default DPT's and Depth Anything's reassemble resizes) become the prepared
    matrix of the flipped kernel that conv_transpose2d reads: row (ky * kw + kx) * C_in + c holds
    W[c][c_out][kh - 1 - ky][kw - 1 - kx];
  - everything else is copied unchanged.
wormsim compares shapes without leading 1s, so [in, out] feeds a [1, 1, in, out] graph weight.

Needs python3-h5py and python3-numpy (Debian: apt-get install python3-h5py python3-numpy;
scripts/setup.sh installs them).
"""
import argparse
import re
import sys

try:
    import numpy as np
    import h5py
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.exit(f"convert_state_dict.py needs numpy and h5py ({error}); "
             "install them with: apt-get install python3-numpy python3-h5py")

DEFAULT_KEEP = r"(embed|embedding|wte|wpe|position|token_type|cls_token|pos_embed|mask_token)"
# ConvTranspose2d weights cannot be told from Conv2d ones by shape. DPT's and Depth Anything's
# reassemble layers 0 and 1 resize with ConvTranspose2d (layer 3's resize is a Conv2d).
DEFAULT_CONV_TRANSPOSE = r"reassemble_stage\.layers\.[01]\.resize\.weight$"


def load_state_dict(path):
    """Named float arrays from a .npz or a torch .pt/.pth file."""
    if path.endswith(".npz"):
        with np.load(path) as archive:
            return {name: np.asarray(archive[name]) for name in archive.files}
    try:
        import torch  # noqa: WPS433 - optional dependency
    except ImportError:
        sys.exit(f"{path}: reading .pt/.pth files needs torch; save the state_dict as .npz instead "
                 "(numpy.savez(path, **{k: v.numpy() for k, v in sd.items()}))")
    state = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    arrays = {}
    for name, value in state.items():
        if hasattr(value, "detach"):
            arrays[name] = value.detach().float().numpy()
    return arrays


def convert(name, array, keep, transpose_linear, conv, conv_transpose):
    """The array as the wormsim graph wants it, and a note of what changed (or None)."""
    is_weight = name.endswith(".weight")
    if is_weight and array.ndim == 2 and transpose_linear and not keep.search(name):
        return np.ascontiguousarray(array.T), "transposed [out, in] -> [in, out]"
    if is_weight and array.ndim == 4 and conv and conv_transpose.search(name):
        c_in, c_out, kh, kw = array.shape
        flipped = array[:, :, ::-1, ::-1]
        matrix = flipped.transpose(2, 3, 0, 1).reshape(kh * kw * c_in, c_out)
        return (np.ascontiguousarray(matrix),
                f"transposed conv [{c_in}, {c_out}, {kh}, {kw}] -> flipped [{kh * kw * c_in}, {c_out}]")
    if is_weight and array.ndim == 4 and conv:
        c_out, c_in, kh, kw = array.shape
        matrix = array.transpose(2, 3, 1, 0).reshape(kh * kw * c_in, c_out)
        return np.ascontiguousarray(matrix), f"conv [{c_out}, {c_in}, {kh}, {kw}] -> [{kh * kw * c_in}, {c_out}]"
    return array, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="state_dict: .pt / .pth (torch) or .npz")
    parser.add_argument("output", help="HDF5 file to write")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                        help="stored element type (wormsim reads both)")
    parser.add_argument("--strip-prefix", default="", help="remove this prefix from every name")
    parser.add_argument("--add-prefix", default="", help="prepend this to every name")
    parser.add_argument("--keep-pattern", default=DEFAULT_KEEP,
                        help="regex of 2-D weights never transposed (embedding tables)")
    parser.add_argument("--no-transpose", action="store_true", help="store 2-D weights as they are")
    parser.add_argument("--no-conv", action="store_true", help="store 4-D conv weights as they are")
    parser.add_argument("--conv-transpose-pattern", default=DEFAULT_CONV_TRANSPOSE,
                        help="regex of 4-D weights that are ConvTranspose2d [C_in, C_out, kh, kw]")
    parser.add_argument("--groups", action="store_true",
                        help="nest groups by '.' (a/b/c) instead of flat dataset names (a.b.c)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    arrays = load_state_dict(args.input)
    if not arrays:
        sys.exit(f"{args.input}: no tensors found")
    keep = re.compile(args.keep_pattern)
    conv_transpose = re.compile(args.conv_transpose_pattern)
    with h5py.File(args.output, "w") as out:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if not np.issubdtype(array.dtype, np.number):
                sys.exit(f"{args.input}: tensor '{name}' is not numeric ({array.dtype})")
            target = name[len(args.strip_prefix):] if args.strip_prefix and name.startswith(args.strip_prefix) else name
            target = args.add_prefix + target
            converted, note = convert(target, array.astype(np.float32), keep, not args.no_transpose, not args.no_conv,
                                      conv_transpose)
            path = target.replace(".", "/") if args.groups else target
            out.create_dataset(path, data=converted.astype(args.dtype))
            if not args.quiet:
                shape = "x".join(str(d) for d in converted.shape)
                print(f"{target}: {shape} {args.dtype}" + (f" ({note})" if note else ""))
    if not args.quiet:
        print(f"wrote {len(arrays)} tensors to {args.output}")


if __name__ == "__main__":
    main()
