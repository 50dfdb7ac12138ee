"""Claim (b): an invertible encoder's probe accuracy rises above the pixels while it stays exactly invertible.

Tschannen et al. (2020), Fig. 1a: both views are encoded by additive-coupling flows (bijections, so
I(g1(x); g2(y)) = I(x; y) throughout), trained with a bilinear critic and I_NCE. We log the linear probe on
g1(top half), the pixel baseline (the same probe on the top-half pixels) and max |g1⁻¹(g1(x)) − x| on the
probe's test rows at every evaluation. Writes results/invertible_<data>.json and .png.

    python benchmarks/mi/representation/bench_invertible.py --data fashion-mnist
    python benchmarks/mi/representation/bench_invertible.py --data digits
    python benchmarks/mi/representation/bench_invertible.py --smoke
"""

from __future__ import annotations

from common import Timer, final_summary, load, parse_run_args, probe_sizes, run_parser, run_setup, train_all, write

from infomix.mi.representation.train import InfoMaxConfig


def main() -> None:
    parser = run_parser(__doc__, data="fashion-mnist")
    parser.add_argument("--couplings", type=int, default=8)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256], help="widths of each coupling's MLP")
    parser.add_argument("--tag", default="", help="suffix of the result names (e.g. for another learning rate)")
    args = parse_run_args(parser)
    views = load(args.data, args.smoke)
    flow = {"couplings": args.couplings, "hidden": args.hidden, "init_std": 1e-4}
    jobs = [
        ({"encoder": "flow"}, InfoMaxConfig(
            encoder="flow", encoder_params={**flow, "seed": seed}, critic="bilinear", objective="nce",
            steps=args.steps, lr=args.lr, eval_every=args.eval_every, seed=seed,
            **probe_sizes(args.data, args.smoke), progress=False))
        for seed in range(args.seeds)
    ]  # fmt: skip
    with Timer() as timer:
        records = train_all(jobs, views.train, views.test, args.data, workers=args.workers)
    summary = final_summary(records)
    worst_reconstruction = max(e for r in records for e in r["history"].reconstruction_error)
    rises = [r["history"].probe_accuracy[-1] > r["history"].pixel_accuracy for r in records]
    best_rises = [max(r["history"].probe_accuracy) > r["history"].pixel_accuracy for r in records]
    outcome = {
        "final_probe_above_pixels_per_seed": rises,
        "best_probe_above_pixels_per_seed": best_rises,
        "max_reconstruction_error": worst_reconstruction,
        "invertible": worst_reconstruction < 1e-5,
        "claim_holds": all(rises) and worst_reconstruction < 1e-5,
    }
    result = {
        "benchmark": f"infomax_invertible_{args.data}",
        "claim": "(b) an invertible encoder's probe accuracy rises above the pixel baseline (reconstruction < 1e-5)",
        "command": f"python benchmarks/mi/representation/bench_invertible.py --data {args.data} --steps {args.steps}"
        f" --lr {args.lr:g} --eval-every {args.eval_every} --couplings {args.couplings}"
        f" --hidden {' '.join(map(str, args.hidden))}"
        + (f" --tag {args.tag}" if args.tag else "")
        + (" --smoke" if args.smoke else ""),
        "setup": run_setup(
            args,
            timer.seconds,
            encoder=f"additive coupling flow, {args.couplings} couplings, MLP {args.hidden}, init std 1e-4",
            critic="bilinear",
        ),
        "summary": summary,
        "outcome": outcome,
    }
    name = f"invertible_{args.data}" + (f"_{args.tag}" if args.tag else "") + ("_smoke" if args.smoke else "")
    write(name, result, records, ["encoder"], f"(b) invertible encoder, {args.data}")
    print(f"pixels {summary['pixel_accuracy']['mean']:.4f}  probe step0 {summary['probe_accuracy_step0']['mean']:.4f}"
          f"  final {summary['probe_accuracy']['mean']:.4f}±{summary['probe_accuracy']['sd']:.4f}")  # fmt: skip
    print("outcome", outcome)


if __name__ == "__main__":
    main()
