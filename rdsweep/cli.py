"""The ``rdsweep`` command (also ``python -m rdsweep.cli``): the tools around training.

    rdsweep export RUN_DIR -o model.rdsm
    rdsweep compress IMAGES -m model.rdsm -o out.rds
    rdsweep decompress out.rds -m model.rdsm -o out.npy|DIR
    rdsweep aggregate DIR... [--out DIR]        rdsweep figures RUN_DIR
    rdsweep sideinfo RUN_DIR...
    rdsweep baselines [--out DIR]               rdsweep bench

(Training: ``rdsweep-train lmbda=...`` or ``python -m rdsweep lmbda=...``.) Every failure is one line
``rdsweep: error: ...`` with exit status 1. Outputs are written aside and renamed into place, never over an
input of the same command or a special file, and over an existing output only with --force.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from rdsweep import __version__
from rdsweep.errors import RdsweepError, deferred_interrupts, exit_now, report_errors


def _lmbda(p):
    p.add_argument("--lmbda", type=positive_number, default=None,
                   help="a variable-rate run's operating point (any lambda of its range)")


def _force(p):
    p.add_argument("-f", "--force", action="store_true", help="replace an existing output")


def cmd_export(args) -> None:
    from rdsweep.experiment.rundir import load_codec
    from rdsweep.files import CHECKPOINT, CONFIG, TABLES, check_output

    check_output(args.output, [args.run_dir, *(args.run_dir / f for f in (CONFIG, CHECKPOINT, TABLES))], args.force)
    codec = load_codec(args.run_dir, args.lmbda)
    codec.save(args.output, replace=args.force)
    print(f"exported {args.run_dir} (model {codec.model.name}, prior {codec.model.spec.prior['name']}, latent "
          f"{codec.model.spec.latent_dims}, lmbda {codec.meta.get('lmbda') or 0:g}) -> {args.output} "
          f"(fingerprint {codec.fingerprint.hex()})")


def _model_inputs(model: Path) -> list:
    """A model's files (a model file, or a run directory and the files of it that are read)."""
    from rdsweep.files import CHECKPOINT, CONFIG, TABLES

    return [model, *(model / f for f in (CONFIG, CHECKPOINT, TABLES))] if model.is_dir() else [model]


def _images(n: int) -> str:
    return f"{n} image{'s' if n != 1 else ''}"


def cmd_compress(args) -> None:
    import rdsweep
    from rdsweep.data.images import read_images
    from rdsweep.files import atomic_write_bytes, check_output

    pngs = sorted(p for p in args.input.iterdir() if p.suffix.lower() == ".png") if args.input.is_dir() else []
    check_output(args.output, [args.input, *_model_inputs(args.model), *pngs], args.force)  # PNGs are inputs too
    codec = rdsweep.load(args.model, args.lmbda)
    images, names = read_images(args.input, codec.shape, codec.most_images())  # bounded before reading
    codec.check_file(len(images), names)  # before encoding
    n, symbols = len(images), codec.encode(images)
    if args.rdo:
        symbols = codec.search(images, symbols, args.rdo)[0]
    del images  # the symbols stand for them from here (memory: the most images one file holds)
    data = codec.compress_symbols(symbols, n, names)
    atomic_write_bytes(args.output, data, replace=args.force)
    info = sum(codec.info_bits(symbols).values()).sum()
    print(f"compressed {_images(n)} -> {args.output}: {len(data)} bytes "
          f"({8 * len(data) / n:.2f} bits/image with header{' and names' if names else ''}; "
          f"information content {info / n:.2f} bits/image)")


def cmd_decompress(args) -> None:
    import rdsweep
    from rdsweep.data.images import write_images
    from rdsweep.files import check_output
    from rdsweep.formats import container

    is_dir = Path(args.output).suffix.lower() != ".npy"
    check_output(args.output, [args.input, *_model_inputs(args.model)], args.force, directory=is_dir)
    codec = rdsweep.load(args.model, args.lmbda)
    images, names = codec.decompress_named(container.read(args.input), legacy=args.legacy)
    write_images(images, args.output, replace=args.force, names=names)
    print(f"decompressed {_images(len(images))} -> {args.output}")
    made = (codec.meta.get("provenance") or {}).get("jax")
    import jax

    if made and made != jax.__version__:
        print(f"rdsweep: note: the model was made with jax {made}, this is jax {jax.__version__}: the symbols "
              "decoded exactly, the images may differ from the encoder's by one grey level", file=sys.stderr)


def cmd_info(args) -> None:
    """What an .rdsm or .rds file holds, on one screen."""
    from rdsweep.files import open_regular

    with open_regular(args.file, 1 << 40) as (f, size):
        magic = f.read(4)
    if magic == b"RDSM":
        _info_model(args.file, size)
    elif magic == b"RDSW":
        _info_compressed(args.file, size)
    else:
        raise RdsweepError(f"{args.file}: neither a model file (.rdsm) nor a compressed file (.rds)")


def _show(rows) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")


def _info_model(path: Path, size: int) -> None:
    import jax

    import rdsweep
    from rdsweep.errors import RdsweepError
    from rdsweep.formats import model_file

    config, params, entropy, fp = model_file.read(path)
    try:
        codec, valid = rdsweep.load(path), "yes (every field checked against its model)"
    except RdsweepError as e:
        codec, valid = None, f"NO: {e}"
    spec = {k: config.get(k) for k in ("model", "prior", "latent_dims", "shape")}
    counts = {k: sum(int(x.size) for x in jax.tree_util.tree_leaves(v)) for k, v in params.items()} \
        if isinstance(params, dict) else {}
    rows = [("file", f"{path} ({size:,} bytes), rdsweep model file (.rdsm)"), ("fingerprint", fp.hex()),
            ("valid", valid), ("model", spec["model"]), ("prior", spec["prior"]),
            ("latent_dims / shape", f"{spec['latent_dims']} / {spec['shape']}"),
            ("trained", ", ".join(f"{k} {config.get(k)}" for k in ("lmbda", "distortion", "epochs", "seed", "data")
                                  if config.get(k) is not None)),
            ("parameters", ", ".join(f"{k} {n:,}" for k, n in counts.items()))]
    if codec is not None:
        rows.append(("coding tables", ", ".join(f"{name}: {layer.tables.rows} rows x {layer.tables.K + 1} bins"
                                                for name, layer in codec.model.layers())))
        rows.append(("one file holds", f"at most {codec.most_images():,} images"))
    made = config.get("provenance") or {}
    rows += [(f"made with {k}", v) for k, v in made.items() if v not in (None, "")]
    if made.get("jax") and made["jax"] != jax.__version__:
        rows.append(("note", f"this machine has jax {jax.__version__}: symbols decode exactly, images may differ "
                             "by one grey level"))
    _show(rows)


def _info_compressed(path: Path, size: int) -> None:
    from rdsweep.formats import container

    d = container.describe(container.read(path))
    names = d["names"]
    _show([("file", f"{path} ({size:,} bytes), rdsweep compressed file (.rds) version {d['version']}"),
           ("images", f"{d['images']:,} of {'x'.join(map(str, d['shape']))}"),
           ("model fingerprint", d["fingerprint"].hex()),
           ("payload", f"{d['payload_bytes']:,} bytes ({8 * d['payload_bytes'] / max(d['images'], 1):.2f} "
                       "bits/image)"),
           ("names", "none" if not names else
            f"{len(names)}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"),
           ("checksum", "CRC-32 correct (the payload is checked when decoded, with its model)")])


def cmd_aggregate(args) -> None:
    from rdsweep.analysis.aggregate import aggregate

    aggregate(args.dirs, args.out or args.dirs[0])


def cmd_sideinfo(args) -> None:
    from rdsweep.analysis.sideinfo import report

    print("\n".join(report(args.run_dirs)))


def cmd_figures(args) -> None:
    from rdsweep.analysis.figures import make_figures

    files = make_figures(args.run_dir, args.out or args.run_dir / "figures", args.seed)
    print(f"{len(files)} figures -> {files[0].parent}")


def cmd_baselines(args) -> None:
    from rdsweep.analysis.baselines import run_baselines
    from rdsweep.config import DataConfig

    cfg = DataConfig(dir=args.data_dir, test_limit=args.test_limit)
    run_baselines(args.out, [m for m in args.methods.split(",") if m], cfg, None, args.progress)


def cmd_bench(args) -> None:
    from rdsweep.experiment.bench import bench

    bench(args)


def positive(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse reports anything else in one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10**9:
        raise argparse.ArgumentTypeError(f"must be 1 .. 10**9, not {value}")
    return value


def rdo_rounds(text: str) -> int:
    """An argparse type: a whole number of search rounds, 0..rdo.MAX_ROUNDS."""
    from rdsweep.coding.rdo import MAX_ROUNDS

    if not (text.isdigit() and int(text) <= MAX_ROUNDS):
        raise argparse.ArgumentTypeError(f"must be a whole number of rounds 0..{MAX_ROUNDS}, not {text!r}")
    return int(text)


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return value


DATA_HELP = ("the MNIST IDX directory (default: $RDSWEEP_DATA_DIR, else ~/.cache/rdsweep/mnist; missing files are "
             "downloaded there)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rdsweep", description="rdsweep's tools: export a trained run, compress and "
                                "decompress images with it, aggregate runs, figures, baselines, benchmarks. "
                                "(Training: rdsweep-train lmbda=... or python -m rdsweep lmbda=...)")
    p.add_argument("--version", action="version", version=f"rdsweep {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("export", help="a trained run -> one model file (.rdsm): weights, coding tables, config")
    e.add_argument("run_dir", type=Path, help="the run directory (holds config.yaml, checkpoint.msgpack)")
    e.add_argument("-o", "--output", type=Path, required=True, help="the model file to write (.rdsm)")
    _lmbda(e)
    _force(e)
    e.set_defaults(fn=cmd_export)

    c = sub.add_parser("compress", help="images (.npy, .png or a directory of .png) -> one .rds file")
    c.add_argument("input", type=Path, help="uint8 .npy (N, H, W[, C]), an 8-bit PNG, or a directory of PNGs")
    c.add_argument("-m", "--model", type=Path, required=True,
                   help="the model file (.rdsm, from rdsweep export) or a trained run directory")
    c.add_argument("-o", "--output", type=Path, required=True, help="the compressed file to write (.rds)")
    c.add_argument("--rdo", type=rdo_rounds, default=0, metavar="ROUNDS",
                   help="search each image's symbols for the least rate + lmbda * distortion of the model's training "
                        "(up to ROUNDS rounds of one-symbol moves; slower encoding, the same decoder)")
    _lmbda(c)
    _force(c)
    c.set_defaults(fn=cmd_compress)

    d = sub.add_parser("decompress", help=".rds -> images (.npy, or a directory of PNGs)")
    d.add_argument("input", type=Path, help="a compressed file (.rds) made with the same model")
    d.add_argument("-m", "--model", type=Path, required=True,
                   help="the model file (.rdsm) or run directory it was made with")
    _lmbda(d)
    d.add_argument("--legacy", action="store_true",
                   help="also read format versions 1 and 2, whose digit count cannot be verified")
    d.add_argument("-o", "--output", type=Path, required=True,
                   help="a .npy file (N, H, W, C), or a directory to fill with PNGs (the compressed PNGs' own names, "
                        "else 00000.png, ...)")
    _force(d)
    d.set_defaults(fn=cmd_decompress)

    i = sub.add_parser("info", help="what a model file (.rdsm) or compressed file (.rds) holds")
    i.add_argument("file", type=Path, help="an .rdsm or .rds file")
    i.set_defaults(fn=cmd_info)

    a = sub.add_parser("aggregate", help="run records -> rd.csv, table1.md, rd_curve.png/.svg, bd.csv")
    a.add_argument("dirs", nargs="+", type=Path, help="sweep, run or baseline directories to read")
    a.add_argument("--out", type=Path, help="where to write (default: the first directory)")
    a.set_defaults(fn=cmd_aggregate)

    si = sub.add_parser("sideinfo", help="what side information could save a trained run (empirical entropies)")
    si.add_argument("run_dirs", nargs="+", type=Path, help="trained run directories")
    si.set_defaults(fn=cmd_sideinfo)

    f = sub.add_parser("figures", help="the report's figures from one trained run")
    f.add_argument("run_dir", type=Path, help="a trained run directory")
    f.add_argument("--out", type=Path, help="default: RUN_DIR/figures")
    f.add_argument("--seed", type=int, default=0, help="which test digits and random strings (default 0)")
    f.set_defaults(fn=cmd_figures)

    b = sub.add_parser("baselines", help="DCT, 8x8 DCT, PCA and classical codecs as RD records")
    b.add_argument("--out", type=Path, default=Path("outputs/baselines"), help="default: outputs/baselines")
    b.add_argument("--methods", default="dct,blockdct,pca,png,webp_lossless,jpeg,webp,jpeg2000,avif,jpegxl",
                   help="comma-separated (default: all)")
    b.add_argument("--data-dir", default=None, help=DATA_HELP)
    b.add_argument("--test-limit", type=positive, default=None, help="only the first N test images")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")
    b.set_defaults(fn=cmd_baselines)

    s = sub.add_parser("bench", help="training and coding speed, coding overheads, peak memory (no test)")
    s.add_argument("--steps", type=positive, default=150, help="timed training steps (default 150)")
    s.add_argument("--batch", type=positive, default=128, help="training batch (default 128)")
    s.add_argument("--test-limit", type=positive, default=None, help="code only the first N test images")
    s.add_argument("--reps", type=positive, default=30, help="calls per timing of --profile (best of 3; default 30)")
    s.add_argument("--lmbda", type=positive_number, default=2000.0, help="the trade-off of the timed steps")
    s.add_argument("--model", default="seed", help="model (default seed)")
    s.add_argument("--prior", default="deep_factorized", help="prior (default deep_factorized)")
    s.add_argument("--run", type=Path, help="code with this trained run's model (default: the timed steps' model)")
    s.add_argument("--data-dir", default=None, help=DATA_HELP)
    s.add_argument("--slow-layers", action="store_true", help="flax ConvTranspose in the decoder (the reference)")
    s.add_argument("--precision", choices=["float32", "bf16"], default="float32",
                   help="the timed training steps' transforms (train.precision; default float32)")
    s.add_argument("--profile", action="store_true", help="also time each layer's forward + backward pass")
    s.set_defaults(fn=cmd_bench)
    return p


# what each command imports (JAX, pandas, ...): imported first, with Ctrl-C and SIGTERM deferred to the end
IMPORTS = {"export": ["rdsweep.codec"], "compress": ["rdsweep.codec", "rdsweep.data.images"],
           "decompress": ["rdsweep.codec", "rdsweep.data.images"], "aggregate": ["rdsweep.analysis.aggregate"],
           "figures": ["rdsweep.analysis.figures"], "info": ["rdsweep.codec"],
           "sideinfo": ["rdsweep.analysis.sideinfo", "rdsweep.codec"],
           "baselines": ["rdsweep.analysis.baselines"], "bench": ["rdsweep.experiment.bench"]}


def main(argv=None, final: bool = False) -> int:
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 is printed escaped, not a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")

    def run():
        args = build_parser().parse_args(argv)  # --help, --version, usage errors: SystemExit passes through
        if args.command not in ("aggregate",):
            from rdsweep import runtime

            runtime.configure()
        with deferred_interrupts():
            for module in IMPORTS.get(args.command, []):
                importlib.import_module(module)
        args.fn(args)

    return report_errors(run, final=final)  # Ctrl-C or SIGTERM from the start on: one line, outputs cleaned up


def command() -> None:
    """The ``rdsweep`` console script: main(), then exit with its status."""
    exit_now(main(final=True))


if __name__ == "__main__":
    command()
