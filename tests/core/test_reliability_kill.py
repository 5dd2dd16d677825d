"""`kill -9` at random moments: during `ispviewer align` and during a burst of decision writes.

Afterwards the manifest passes SQLite's integrity check and `ispviewer check`, every decision whose
call returned is there, and `align` resumes and finishes.  A handful of kills by default;
``ISPVIEWER_LONG_TESTS=1`` (or ``pytest --long``) runs many.
"""

import os
import random
import subprocess
import time

from ispviewer.dataset.check import LEFTOVER_MIN_AGE_S, check_dataset
from ispviewer.workflows.repair import repair_dataset
from reliability_helpers import (
    DEMO_PATCH,
    cli_command,
    copy_dataset,
    count,
    db,
    demo_template,
    integrity,
    kill_group,
    parse_decisions,
    progress_lines,
    rest_of,
    start,
    start_decider,
    wait_ready,
)

ALIGN_KILLS = count(3, 40)
DECISION_KILLS = count(6, 200)


def _states(root) -> dict[str, tuple[str, int]]:
    with db(root) as conn:
        return {r["name"]: (r["align_state"], r["n"]) for r in conn.execute(
            "SELECT t.name, t.align_state, (SELECT COUNT(*) FROM patches p WHERE p.triplet_id = t.id) AS n "
            "FROM triplets t")}


def _user_decisions(root) -> dict[int, tuple]:
    with db(root) as conn:
        return {r["id"]: (r["status"], r["reason"]) for r in conn.execute(
            "SELECT id, status, reason FROM patches WHERE decided_by = 'user'")}


def _assert_sound(root) -> None:
    assert integrity(root) == "ok"
    report = check_dataset(root)  # files, heatmaps, aligned targets, history vs status
    assert report.ok, report.summary()


def test_kill_during_align_then_resume(tmp_path):
    root = copy_dataset(demo_template(align=False), tmp_path / "ds")
    rnd = random.Random(7)
    align = cli_command("align", str(root), "--workers", "1", "--patch", str(DEMO_PATCH))
    kills, runs, killed_mid_batch = 0, 0, 0
    while kills < ALIGN_KILLS and runs < 3 * ALIGN_KILLS:
        runs += 1
        before = _states(root)
        if all(state == "aligned" for state, _ in before.values()):
            root = copy_dataset(demo_template(align=False), tmp_path / f"ds{runs}")  # start again
            before = _states(root)
            align = cli_command("align", str(root), "--workers", "1", "--patch", str(DEMO_PATCH))
        proc = start(align, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pending = sum(state != "aligned" for state, _ in before.values())
        # a random moment: while starting, or once k triplets were stored, a little later
        stored_before_kill = rnd.randrange(pending)
        progress_lines(proc, stored_before_kill, timeout=60)
        time.sleep(rnd.uniform(0.0, 0.4 if stored_before_kill else 2.0))
        if proc.poll() is None:
            kill_group(proc)
            kills += 1
        proc.wait(timeout=60)
        proc.stderr.close()
        after = _states(root)
        for name, (state, patches) in after.items():
            assert state in ("aligned", "pending"), (name, state)
            assert (patches > 0) == (state == "aligned"), (name, state, patches)  # all of a triplet or nothing
        stored = sum(s == "aligned" for s, _ in after.values()) - sum(s == "aligned" for s, _ in before.values())
        killed_mid_batch += 0 < stored < pending
        _assert_sound(root)
    assert kills == ALIGN_KILLS
    final = subprocess.run(align, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert all(state == "aligned" for state, _ in _states(root).values())
    _assert_sound(root)
    print(f"align: {kills} kill(s) in {runs} run(s), {killed_mid_batch} after some triplets were stored; resumed")


def test_kill_during_forced_realign_keeps_user_decisions(tmp_path):
    root = copy_dataset(demo_template(align=True), tmp_path / "ds")
    decider = start_decider(root, "user", limit=25)
    wait_ready(decider)
    rest_of(decider)
    assert decider.returncode == 0
    mine = _user_decisions(root)
    assert len(mine) >= 10
    rnd = random.Random(11)
    force = cli_command("align", str(root), "--workers", "1", "--patch", str(DEMO_PATCH), "--force")
    for _ in range(max(1, ALIGN_KILLS // 2)):
        proc = start(force, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.3, 3.0))
        kill_group(proc)
        proc.wait(timeout=60)
        _assert_sound(root)  # the stored rows reference files that exist and load
        assert _user_decisions(root) == mine
    report = check_dataset(root)  # a kill between a worker's write and the store leaves orphans only
    aged = time.time() - LEFTOVER_MIN_AGE_S - 5
    for path in report.orphans:
        os.utime(path, (aged, aged))
    repair_dataset(root, report, log=lambda *a: None)
    after = check_dataset(root)
    assert after.ok and after.orphans == [], after.summary()


def test_kill_during_decision_burst_loses_no_returned_decision(tmp_path):
    root = copy_dataset(demo_template(align=True), tmp_path / "ds")
    rnd = random.Random(3)
    returned_total = 0
    for k in range(DECISION_KILLS):
        tag = f"k{k}"
        proc = start_decider(root, tag)
        wait_ready(proc)
        time.sleep(rnd.uniform(0.0, 0.25))
        kill_group(proc)
        out, _ = rest_of(proc)
        returned = parse_decisions(out)
        returned_total += len(returned)
        assert integrity(root) == "ok"
        with db(root) as conn:
            logged = {r["reason"]: r["new_status"] for r in conn.execute(
                "SELECT reason, new_status FROM decisions WHERE reason LIKE ?", (f"{tag}-%",))}
            current = {r["id"]: r["reason"] for r in conn.execute("SELECT id, reason FROM patches")}
        for _pid, status, reason, _ in returned:
            assert logged.get(reason) == status, f"returned decision {reason} lost"
        # at most the one call in flight at the kill committed without having returned
        assert set(logged) - {r for _, _, r, _ in returned} <= {f"{tag}-{len(returned)}"}
        last = {pid: reason for pid, _, reason, _ in returned}
        for pid, reason in last.items():
            assert current[pid] in (reason, f"{tag}-{len(returned)}")
    _assert_sound(root)
    assert returned_total > DECISION_KILLS  # the kills did land inside bursts
    print(f"decisions: {DECISION_KILLS} kill(s), {returned_total} returned decision(s), none lost")
