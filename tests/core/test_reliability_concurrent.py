"""A second process writes decisions continuously while `ispviewer align --force` rewrites the dataset.

No decision is lost (re-alignment keeps user decisions), "database is locked" never reaches either
process, and each decision returns within a generous bound (the worst is printed; the figure to
watch is benchmarks/bench_concurrent_writes.py).
"""

import subprocess

from ispviewer.dataset.check import check_dataset
from reliability_helpers import (
    DEMO_PATCH,
    cli_command,
    copy_dataset,
    count,
    db,
    demo_template,
    integrity,
    parse_decisions,
    rest_of,
    start,
    start_decider,
    wait_ready,
)

#: Generous: SQLite's busy timeout is 5 s and the manifest retries locks for 30 s before giving up.
WORST_DECISION_S = 5.0
ROUNDS = count(1, 5)
#: Between two decisions: ~200 a second, far faster than a person, and leaves the aligner some CPU.
PACE_S = 0.005


def test_decisions_during_align_are_all_kept_and_never_see_a_lock(tmp_path):
    root = copy_dataset(demo_template(align=True), tmp_path / "ds")
    total, worst_ms = 0, 0.0
    for r in range(ROUNDS):
        stop = tmp_path / f"stop{r}"
        decider = start_decider(root, f"c{r}", stop=stop, pace=PACE_S)
        wait_ready(decider)
        align = start(cli_command("align", str(root), "--workers", "1", "--patch", str(DEMO_PATCH), "--force"),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        align_out, align_err = align.communicate(timeout=180)
        stop.touch()
        out, err = rest_of(decider)
        assert align.returncode == 0, align_err
        assert decider.returncode == 0, err
        assert "locked" not in (align_err + err).lower()
        decisions = parse_decisions(out)
        assert len(decisions) > 20  # the writer really ran alongside the aligner
        with db(root) as conn:
            logged = {r["reason"]: r["new_status"] for r in conn.execute(
                "SELECT reason, new_status FROM decisions WHERE reason LIKE ?", (f"c{r}-%",))}
            current = {r["id"]: (r["status"], r["decided_by"], r["reason"]) for r in conn.execute(
                "SELECT id, status, decided_by, reason FROM patches")}
        assert logged == {reason: status for _, status, reason, _ in decisions}
        final = {pid: (status, "user", reason) for pid, status, reason, _ in decisions}
        assert {pid: current[pid] for pid in final} == final  # re-alignment kept every one
        total += len(decisions)
        worst_ms = max(worst_ms, max(ms for *_, ms in decisions))
    assert integrity(root) == "ok"
    assert check_dataset(root).ok
    print(f"\n{total} decisions while `align --force` ran ({ROUNDS} round(s)): worst {worst_ms:.1f} ms")
    assert worst_ms < WORST_DECISION_S * 1000
