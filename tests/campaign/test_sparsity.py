"""Activation sparsity of golden runs: counted right, stored with the campaign, reported."""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign
from nvdla_sim.campaign.sparsity import golden_sparsity
from nvdla_sim.report import report
from nvdla_sim.runner import ProgramRunner
from tests.campaign.workloads import toy_workload


def test_zero_counts_match_each_tensor_read_right_after_its_layer():
    workload = toy_workload(3, seed=4)
    program = workload.program
    table, outputs = golden_sparsity(ProgramRunner(program), workload.inputs)
    last = {info.output: i for i, info in enumerate(program.info)}
    runner = ProgramRunner(program)
    expected = {name.decode(): [0, 0, 0] for name in table["tensor"]}
    for n, x in enumerate(workload.inputs):
        runner.write_tensor(program.inputs[0], x)
        seen = {program.inputs[0].name: runner.read_tensor(program.inputs[0])}
        for i, layer in enumerate(program.layers):
            runner.executor.run(layer, runner.memory)
            if last[program.info[i].output] == i:
                seen[program.info[i].output] = runner.read_tensor(
                    program.tensors[program.info[i].output])
        for name, q in seen.items():
            zp = program.tensors[name].zero_point
            expected[name] = [a + b for a, b in zip(expected[name], (
                q.size, np.count_nonzero(q == zp), np.count_nonzero(q == 0)))]
        assert np.array_equal(outputs[n][0], seen[program.outputs[0].name])
    got = {r["tensor"].decode(): [r["elements"], r["zero"], r["raw_zero"]] for r in table}
    assert got == expected
    assert table["zero"].sum() > 0  # the toy network's ReLUs do make zeros


def test_campaign_stores_sparsity_and_the_report_shows_it(tmp_path):
    workload = toy_workload(4, seed=0)
    campaign = TransientCampaign(CampaignConfig(injections=30, chunk=30), workload)
    out = campaign.run(tmp_path / "c.h5", progress=False)
    files = report(out, tmp_path / "report")
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "## Activation sparsity (golden runs)" in text
    table, _ = golden_sparsity(ProgramRunner(workload.program), workload.inputs)
    for row in table:
        assert f"| {row['tensor'].decode()} |" in text
    assert files
