"""Claim (a), critic ablation: does the concatenated critic reach the highest bound but not the best probe?

Tschannen et al. (2020), Fig. 3: MLP encoders [300, 300] -> 100 on the two halves of each image; critics
bilinear, separable and concat (MLP on [u; v], all K² pairs); I_NCE (and I_NWJ); Adam; K = 128. Writes
results/critics_<data>.json and .png.

    python benchmarks/mi/representation/bench_critics.py --data digits --bounds nce nwj
    python benchmarks/mi/representation/bench_critics.py --data fashion-mnist
    python benchmarks/mi/representation/bench_critics.py --smoke
"""

from __future__ import annotations

from common import (
    Timer,
    final_summary,
    group,
    load,
    parse_run_args,
    print_bounds_and_probes,
    probe_sizes,
    run_parser,
    run_setup,
    train_all,
    write,
)

from infomix.mi.representation.train import InfoMaxConfig

CRITICS = ("bilinear", "separable", "concat")


def main() -> None:
    parser = run_parser(__doc__, data="digits")
    parser.add_argument("--bounds", nargs="+", default=["nce"], choices=["nce", "nwj"])
    args = parse_run_args(parser)
    views = load(args.data, args.smoke)
    jobs = [
        ({"bound": b, "critic": c}, InfoMaxConfig(
            encoder="mlp", critic=c, objective=b, steps=args.steps, lr=args.lr, eval_every=args.eval_every,
            seed=seed, **probe_sizes(args.data, args.smoke), progress=False))
        for b in args.bounds for c in CRITICS for seed in range(args.seeds)
    ]  # fmt: skip
    with Timer() as timer:
        records = train_all(jobs, views.train, views.test, args.data, workers=args.workers)
    summary = {key: final_summary(runs) for key, runs in group(records, ["bound", "critic"]).items()}
    outcome = {}
    for b in args.bounds:
        bounds = {c: summary[f"{b}/{c}"]["test_bound"]["mean"] for c in CRITICS}
        accs = {c: summary[f"{b}/{c}"]["probe_accuracy"]["mean"] for c in CRITICS}
        outcome[b] = {
            "highest_bound": max(bounds, key=bounds.__getitem__),
            "highest_probe_accuracy": max(accs, key=accs.__getitem__),
            "concat_highest_bound": max(bounds, key=bounds.__getitem__) == "concat",
            "concat_not_best_probe": max(accs, key=accs.__getitem__) != "concat",
        }
        outcome[b]["claim_holds"] = outcome[b]["concat_highest_bound"] and outcome[b]["concat_not_best_probe"]
    result = {
        "benchmark": f"infomax_critics_{args.data}",
        "claim": "(a) the concat critic reaches the highest bound but not the highest probe accuracy",
        "command": f"python benchmarks/mi/representation/bench_critics.py --data {args.data} --bounds "
        + " ".join(args.bounds)
        + f" --steps {args.steps} --lr {args.lr:g}"
        + (" --smoke" if args.smoke else ""),
        "setup": run_setup(args, timer.seconds, encoder="mlp [300, 300] -> 100"),
        "summary": summary,
        "outcome": outcome,
    }
    name = f"critics_{args.data}" + ("_smoke" if args.smoke else "")
    write(name, result, records, ["bound", "critic"], f"(a) critic ablation, {args.data}")
    print_bounds_and_probes(summary, 16)
    print("outcome", outcome)


if __name__ == "__main__":
    main()
