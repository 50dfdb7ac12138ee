"""Metric-learning view (paper §4): does a triplet hinge loss, which bounds no MI, probe as well as I_NCE?

MLP encoders [300, 300] -> 100 and the separable critic φ1(u)ᵀφ2(v), trained either with −I_NCE or with the
hinge (1/K) Σ_i (1/K) Σ_{j≠i} max(0, 1 − S_ii + S_ij); I_NCE of the scores is logged for both. Writes
results/triplet_<data>.json and .png.

    python benchmarks/mi/representation/bench_triplet.py --data digits
    python benchmarks/mi/representation/bench_triplet.py --smoke
"""

from __future__ import annotations

from common import (
    Timer,
    final_summary,
    group,
    load,
    parse_run_args,
    probe_sizes,
    run_parser,
    run_setup,
    train_all,
    write,
)

from infomix.mi.representation.train import InfoMaxConfig

OBJECTIVES = ("nce", "triplet")


def main() -> None:
    args = parse_run_args(run_parser(__doc__, data="digits"))
    views = load(args.data, args.smoke)
    jobs = [
        ({"objective": o, "critic": "separable"}, InfoMaxConfig(
            encoder="mlp", critic="separable", objective=o, report_bound="nce", steps=args.steps, lr=args.lr,
            eval_every=args.eval_every, seed=seed, **probe_sizes(args.data, args.smoke), progress=False))
        for o in OBJECTIVES for seed in range(args.seeds)
    ]  # fmt: skip
    with Timer() as timer:
        records = train_all(jobs, views.train, views.test, args.data, workers=args.workers)
    summary = {key: final_summary(runs) for key, runs in group(records, ["objective", "critic"]).items()}
    nce, triplet = summary["nce/separable"], summary["triplet/separable"]
    outcome = {
        "probe_nce": nce["probe_accuracy"]["mean"],
        "probe_triplet": triplet["probe_accuracy"]["mean"],
        "difference": triplet["probe_accuracy"]["mean"] - nce["probe_accuracy"]["mean"],
        "seed_sd": max(nce["probe_accuracy"]["sd"], triplet["probe_accuracy"]["sd"]),
    }
    result = {
        "benchmark": f"infomax_triplet_{args.data}",
        "claim": "(metric learning) a triplet hinge loss, not an MI bound, probes comparably to I_NCE",
        "command": f"python benchmarks/mi/representation/bench_triplet.py --data {args.data} --steps {args.steps}"
        f" --lr {args.lr:g}" + (" --smoke" if args.smoke else ""),
        "setup": run_setup(args, timer.seconds, encoder="mlp [300, 300] -> 100", critic="separable"),
        "summary": summary,
        "outcome": outcome,
    }  # fmt: skip
    name = f"triplet_{args.data}" + ("_smoke" if args.smoke else "")
    write(name, result, records, ["objective", "critic"], f"triplet vs I_NCE, {args.data}")
    print("outcome", outcome)


if __name__ == "__main__":
    main()
