"""Sessions running over time, one line per contender, one panel per N (hack/bench converge).

Input: a JSON file {"title": str, "sizes": [{"sessions": N, "series": {contender: [[ms, running], ...]}}]}.
Run by hack/benchmarks/plot.ts with the matplotlib of a venv that hack/bench makes under the temp dir.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the PNG only
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"dockerlet": "#d62728", "floor": "#7f7f7f", "compose": "#1f77b4", "swarm": "#2ca02c"}
LABELS = {
    "dockerlet": "dockerlet (agent spawn)",
    "floor": "floor (dockerode create+start loop)",
    "compose": "docker-compose up -d",
    "swarm": "Swarm service",
}


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as handle:
        data = json.load(handle)
    sizes = data["sizes"]
    figure, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.6), squeeze=False)
    for axis, size in zip(axes[0], sizes):
        for name, points in size["series"].items():
            if not points:
                continue
            # The poll's first answer comes a few ms after the start: draw from (0, 0).
            xs = [0.0] + [p[0] / 1000 for p in points]
            ys = [0] + [p[1] for p in points]
            axis.step(xs, ys, where="post", label=LABELS.get(name, name), color=COLORS.get(name), linewidth=1.8)
        axis.set_title(f"N = {size['sessions']}")
        axis.set_xlabel("seconds since start")
        axis.set_ylabel("containers running")
        axis.set_ylim(0, size["sessions"] * 1.05)
        axis.set_xlim(left=0)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    figure.suptitle(data["title"], fontsize=10)
    figure.tight_layout()
    figure.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
